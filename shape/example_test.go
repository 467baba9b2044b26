package shape_test

import (
	"fmt"

	"github.com/toolwatch/toolwatch/shape"
)

func ExampleOf() {
	for _, in := range []string{
		`{"query":"SELECT * FROM orders WHERE id = 4","limit":10}`,
		`{"filter":{"id":1,"tags":["a"]},"url":"https://a.example/x"}`,
		`{"q":"x' OR '1'='1"}`,
		"1; DROP TABLE users",
		"/var/log/syslog",
		"Summarise this ticket for me, please.",
		"\x89PNG\r\n\x1a\n\x00\x00",
	} {
		fmt.Println(shape.Of([]byte(in)))
	}
	// Output:
	// json{limit:num,query:str/sql}
	// json{filter:obj{id:num,tags:arr[str]},url:str/url}
	// json{q:str/sql-injection}
	// text/sql-injection
	// text/path
	// text/plain
	// binary
}

func ExampleClass() {
	for _, s := range []string{"json{limit:num,query:str/sql-injection}", "binary", "json{customer_id:str}", "text/url"} {
		class, dangerous := shape.Class(s)
		fmt.Println(class, dangerous, shape.Kind(s))
	}
	// Output:
	// sql-injection true json
	// binary true binary
	// json false json
	// url false text
}
