package dest_test

import (
	"fmt"

	"github.com/toolwatch/toolwatch/shape/dest"
)

func ExampleExtractor_Extract() {
	key := []byte("example-key-not-for-production") // dest.LoadKey(cfg.KeyFile, cfg.KeyEnv) in a runtime
	e, err := dest.New(dest.DefaultDestinations(), key)
	if err != nil {
		panic(err)
	}
	r := e.Extract("send_email", dest.Input, []byte(`{"to":"Bob@Acme.com","subject":"hi"}`))
	fmt.Println(r.Destinations)
	fmt.Println(e.Normalized("send_email", dest.Input, []byte(`{"to":"Bob@Acme.com","subject":"hi"}`)))
	// Output:
	// [email:6ef38c200552f185fa840c78aa802e04 email_domain:a425ce3d72fff3621022c3e2b60fa362]
	// [email:bob@acme.com email_domain:acme.com]
}
