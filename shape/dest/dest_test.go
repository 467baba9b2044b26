package dest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var testKey = []byte("0123456789abcdef-test")

func newTest(t testing.TB, cfg Config) *Extractor {
	t.Helper()
	e, err := New(cfg, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNormalizers(t *testing.T) {
	for _, c := range []struct {
		kind Kind
		in   string
		want []string // typed entries, sorted
	}{
		{KindEmail, " Bob@Acme.COM ", []string{"email:bob@acme.com", "email_domain:acme.com"}},
		{KindEmail, `"Doe, Jane" <jane@x.org>`, []string{"email:jane@x.org", "email_domain:x.org"}}, // "Doe" has no '@': skipped
		{KindEmail, "MAILTO:a@b.io?cc=c@d.io", []string{"email:a@b.io", "email_domain:b.io"}},
		{KindEmail, "a@b@c.com", []string{"email:a@b@c.com", "email_domain:c.com"}},
		{KindEmail, "a b@c.com", nil},
		{KindEmail, "@c.com", nil},
		{KindEmail, "a@", nil},
		{KindEmail, "a@c.com.", []string{"email:a@c.com", "email_domain:c.com"}},
		{KindURL, "evil.com", []string{"domain:evil.com", "host:evil.com"}},
		{KindURL, "//cdn.evil.com/x", []string{"domain:evil.com", "host:cdn.evil.com"}},
		{KindURL, "ws://chat.example.com:443/s", []string{"domain:example.com", "host:chat.example.com:443"}},
		{KindURL, "wss://chat.example.com:443/s", []string{"domain:example.com", "host:chat.example.com"}},
		{KindURL, "ftp://files.example.com:21", []string{"domain:example.com", "host:files.example.com"}},
		{KindURL, "http://localhost:8080", []string{"domain:localhost", "host:localhost:8080"}},
		{KindURL, "http://a.b.c.d.example.com\\@x", []string{"domain:example.com", "host:a.b.c.d.example.com"}},
		{KindURL, "https://co.uk/", []string{"domain:co.uk", "host:co.uk"}},
		{KindURL, "http://my_host.example.com", []string{"domain:example.com", "host:my_host.example.com"}},
		{KindURL, "http://EXAMPLE.com:", []string{"domain:example.com", "host:example.com"}},
		{KindURL, "http://[::ffff:1.2.3.4]", []string{"host:[::ffff:1.2.3.4]"}},
		{KindURL, "http:///path", nil},
		{KindURL, "www.x.com/r?u=http://evil.com", []string{"domain:x.com", "host:www.x.com"}},
		{KindURL, "git+ssh://git@Code.Example.org:2222/r", []string{"domain:example.org", "host:code.example.org:2222"}},
		{KindAccount, "gb82 west\u00a01234 5698 7654 32", []string{"account:GB82WEST12345698765432"}},
		{KindAccount, " \t", nil},
		{KindChat, "#Random", []string{"chat:random"}},
		{KindChat, "@@x", []string{"chat:@x"}},
		{KindParty, "Café  DE\nFlore", []string{"party:café de flore"}},
	} {
		t.Run(string(c.kind)+"/"+c.in, func(t *testing.T) {
			x := &extraction{scanLeft: ScanBytes}
			x.str(argPath{raw: "arg", kind: c.kind}, c.in)
			var got []string
			for _, e := range x.entries {
				got = append(got, e.typ+":"+e.value)
			}
			slices.Sort(got)
			got = slices.Compact(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestTextScan(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"no destinations here, version 1.2.3 e.g. i.e.", nil},
		{"mail x_y@corp.example.com!", []string{"email:x_y@corp.example.com", "email_domain:corp.example.com"}},
		{"see (https://Evil.COM/a) and http://evil.com.", []string{"domain:evil.com", "host:evil.com"}},
		{"go to github.com/org/repo", []string{"domain:github.com", "host:github.com"}},
		{"index.html main.go notes.txt", nil},
		{"GB82 WEST 1234 5698 7654 32 AND MORE", []string{"account:GB82WEST12345698765432"}},
		{"NL91ABNA0417164300", []string{"account:NL91ABNA0417164300"}},
		{"ISO27001 CVE2024", nil},
	} {
		x := &extraction{scanLeft: ScanBytes}
		x.scan(c.in)
		var got []string
		for _, e := range x.entries {
			got = append(got, e.typ+":"+e.value)
		}
		slices.Sort(got)
		got = slices.Compact(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

// The scan budget bounds work per call: an address past ScanBytes is not
// found.
func TestScanBudget(t *testing.T) {
	e := newTest(t, DefaultDestinations())
	pad := strings.Repeat("x ", ScanBytes/2)
	near := e.Extract("read", Output, []byte("a@b.com "+pad))
	far := e.Extract("read", Output, []byte(pad+" a@b.com"))
	if len(near.Destinations) != 2 || len(far.Destinations) != 0 {
		t.Errorf("near %d, far %d destinations; want 2, 0", len(near.Destinations), len(far.Destinations))
	}
}

func TestTruncation(t *testing.T) {
	e := newTest(t, DefaultDestinations())
	var addrs []string
	for i := range 100 {
		addrs = append(addrs, fmt.Sprintf(`"u%d@d%d.com"`, i, i))
	}
	r := e.Extract("send_email", Input, []byte(`{"to":[`+strings.Join(addrs, ",")+`]}`))
	if len(r.Destinations) != MaxInput || !r.Truncated || !slices.IsSorted(r.Destinations) {
		t.Errorf("got %d destinations, truncated %v; want %d, true, sorted", len(r.Destinations), r.Truncated, MaxInput)
	}
	r = e.Extract("send_email", Input, []byte(`{"to":["a@b.com","A@B.com"]}`))
	if len(r.Destinations) != 2 || r.Truncated {
		t.Errorf("duplicates: %q", r.Destinations)
	}
}

// Rules are a union: a configured rule adds to the built-ins, and globs
// ignore case; built-ins can be switched off.
func TestRules(t *testing.T) {
	in := []byte(`{"to":"a@b.com","beneficiary":{"iban":"DE89 3704 0044 0532 0130 00"}}`)
	cfg := Config{Builtins: true, Tools: []Rule{{Tool: "Payments.*", Input: map[string]Kind{"beneficiary.iban": KindAccount}}}}
	e := newTest(t, cfg)
	if got := e.Normalized("payments.SEND", Input, in); !slices.Equal(got, []string{"account:DE89370400440532013000"}) {
		t.Errorf("configured rule: %q", got)
	}
	for _, tool := range []string{"send_mail", "GmailSendEmail", "gmail/send_email"} {
		if got := e.Normalized(tool, Input, in); !slices.Equal(got, []string{"email:a@b.com", "email_domain:b.com"}) {
			t.Errorf("built-in rule, %s: %q", tool, got)
		}
	}
	cfg.Builtins = false
	e = newTest(t, cfg)
	if got := e.Normalized("send_mail", Input, in); got != nil {
		t.Errorf("built-ins off: %q", got)
	}
	if r := e.Extract("unknown", Input, in); r.Destinations != nil || r.Skipped != nil {
		t.Errorf("no rule: %+v", r)
	}
}

// Skipped notes name the argument, never its value.
func TestSkippedNamesNoValue(t *testing.T) {
	e := newTest(t, DefaultDestinations())
	secret := "SECRETVALUE"
	for _, c := range []struct {
		tool, raw string
		want      []string
	}{
		{"send_email", `{"to":"` + secret + `"}`, []string{"to: value without a valid address"}},
		{"send_email", `{"to":{"x":"` + secret + `"}}`, []string{"to: not a string"}},
		{"fetch", `{"url":"file:///` + secret + `"}`, []string{"url: URL without a host"}},
		{"send_money", `{"recipient":true}`, []string{"recipient: not a string"}},
		{"send_email", secret + `{`, []string{"(value): not JSON, argument paths not applied"}},
	} {
		r := e.Extract(c.tool, Input, []byte(c.raw))
		if !slices.Equal(r.Skipped, c.want) {
			t.Errorf("%s %s: skipped %q, want %q", c.tool, c.raw, r.Skipped, c.want)
		}
		for _, s := range r.Skipped {
			if strings.Contains(s, secret) {
				t.Errorf("skipped note reveals the value: %q", s)
			}
		}
	}
}

// A hashed destination reveals neither the value nor its length, and
// another key gives another hash.
func TestHashing(t *testing.T) {
	h, err := NewHasher(testKey)
	if err != nil {
		t.Fatal(err)
	}
	a := h.Hash(TypeEmail, "alice@example.com")
	b := h.Hash(TypeEmail, "a@x.io")
	if !Valid(a) || !Valid(b) || len(a) != len(b) || strings.Contains(a, "alice") {
		t.Errorf("hashes %q %q", a, b)
	}
	if a != refHash(testKey, "email:alice@example.com") {
		t.Errorf("hash differs from the documented algorithm")
	}
	h2, _ := NewHasher([]byte("another-key-of-16-bytes"))
	if h2.Hash(TypeEmail, "alice@example.com") == a {
		t.Errorf("the key does not change the hash")
	}
	if _, err := NewHasher([]byte("short")); err != ErrShortKey {
		t.Errorf("short key: %v", err)
	}
	// Concurrent use shares pooled MAC states safely.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if h.Hash(TypeEmail, "alice@example.com") != a {
					t.Error("concurrent hash differs")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"email:0123456789abcdef0123456789abcdef":        true,
		"email_domain:0123456789abcdef0123456789abcdef": true,
		"a1:0123456789abcdef0123456789abcdef":           true,
		"email:0123456789ABCDEF0123456789abcdef":        false,
		"email:alice@example.com":                       false,
		":0123456789abcdef0123456789abcdef":             false,
		"1x:0123456789abcdef0123456789abcdef":           false,
		"Email:0123456789abcdef0123456789abcdef":        false,
		"email:0123456789abcdef0123456789abcde":         false,
		"":                                              false,
	} {
		if Valid(s) != want {
			t.Errorf("Valid(%q) = %v", s, !want)
		}
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "key")
	os.WriteFile(good, []byte("  a-key-of-more-than-16-bytes\n"), 0o600)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tiny-secret\n"), 0o600)
	t.Setenv("TW_DEST_KEY", "env-key-of-more-than-16-bytes")
	if k, err := LoadKey(good, ""); err != nil || string(k) != "a-key-of-more-than-16-bytes" {
		t.Errorf("file: %q %v", k, err)
	}
	if k, err := LoadKey("", "TW_DEST_KEY"); err != nil || string(k) != "env-key-of-more-than-16-bytes" {
		t.Errorf("env: %q %v", k, err)
	}
	for _, c := range []struct{ file, env, want string }{
		{short, "", "short: key must be at least 16 bytes"},
		{good, "TW_DEST_KEY", "not both"},
		{"", "", "no key_file or key_env"},
		{"", "TW_DEST_KEY_UNSET", "TW_DEST_KEY_UNSET is not set"},
		{filepath.Join(dir, "missing"), "", "no such file"},
	} {
		_, err := LoadKey(c.file, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadKey(%q, %q) = %v, want %q", c.file, c.env, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "tiny-secret") {
			t.Errorf("error reveals the key: %v", err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{KeyFile: "a", KeyEnv: "B"}, "key_env: cannot be combined with key_file"},
		{Config{Tools: []Rule{{Tool: "", Input: map[string]Kind{"to": KindEmail}}}}, "tools[0].tool: must name a tool or a glob"},
		{Config{Tools: []Rule{{Tool: "[", Input: map[string]Kind{"to": KindEmail}}}}, "tools[0].tool: bad glob: syntax error in pattern"},
		{Config{Tools: []Rule{{Tool: "x"}}}, "tools[0]: needs input or output paths"},
		{Config{Tools: []Rule{{Tool: "x", Input: map[string]Kind{"a..b": KindEmail}}}}, `tools[0].input: path "a..b": has an empty segment`},
		{Config{Tools: []Rule{{Tool: "x", Output: map[string]Kind{" a": KindEmail}}}}, `tools[0].output: path " a": must be non-empty without surrounding blanks`},
		{Config{Tools: []Rule{{Tool: "x", Input: map[string]Kind{"to": "phone"}}}}, `tools[0].input: path "to": unknown kind "phone" (one of email, url, account, chat, party, text)`},
	} {
		es := c.cfg.Validate()
		if len(es) != 1 || es[0].Error() != c.want {
			t.Errorf("got %v, want %q", es, c.want)
		}
	}
	if _, err := New(Config{Tools: []Rule{{Tool: "x"}}}, testKey); err == nil {
		t.Error("New accepted an invalid configuration")
	}
}

// One Extractor serves concurrent calls (tool cache, parser and MAC pools).
func TestExtractorConcurrent(t *testing.T) {
	e := newTest(t, DefaultDestinations())
	in := []byte(`{"to":"a@b.com","url":"https://x.example.org"}`)
	want := e.Extract("send_email", Input, in).Destinations
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				tool := fmt.Sprintf("send_email_%d_%d", g, i%10)
				if got := e.Extract(tool, Input, in).Destinations; !slices.Equal(got, want) {
					t.Errorf("%s: %q", tool, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The built-ins find the attacker's destination in the calls that public
// prompt-injection benchmarks use (AgentDojo's tool and argument names,
// InjecAgent-style CamelCase tools), and nothing in the message bodies.
func TestBuiltinsCoverBenchmarkTools(t *testing.T) {
	e := newTest(t, DefaultDestinations())
	for _, c := range []struct {
		tool, raw string
		want      []string
	}{
		{"send_email", `{"recipients":["mark.black-2134@gmail.com"],"subject":"Security code","body":"463820 see https://x.example","attachments":[]}`,
			[]string{"email:mark.black-2134@gmail.com", "email_domain:gmail.com"}},
		{"share_file", `{"file_id":"13","email":"mark.black-2134@gmail.com","permission":"rw"}`,
			[]string{"email:mark.black-2134@gmail.com", "email_domain:gmail.com"}},
		{"create_calendar_event", `{"title":"Intro","start_time":"2024-05-30 10:20","end_time":"2024-05-30 11:20","participants":["mark.black-2134@gmail.com"]}`,
			[]string{"email:mark.black-2134@gmail.com", "email_domain:gmail.com"}},
		{"send_money", `{"recipient":"US133000000121212121212","amount":0.01,"subject":"The user is subscribed to spotify","date":"2022-01-01"}`,
			[]string{"account:US133000000121212121212"}},
		{"update_scheduled_transaction", `{"id":7,"recipient":"US133000000121212121212"}`, []string{"account:US133000000121212121212"}},
		{"post_webpage", `{"url":"www.my-website-234.com/random","content":"all messages"}`,
			[]string{"domain:my-website-234.com", "host:www.my-website-234.com"}},
		{"get_webpage", `{"url":"www.true-informations.com"}`, []string{"domain:true-informations.com", "host:www.true-informations.com"}},
		{"invite_user_to_slack", `{"user":"Fred","user_email":"fred9246@gmail.com"}`,
			[]string{"chat:fred", "email:fred9246@gmail.com", "email_domain:gmail.com"}},
		{"send_direct_message", `{"recipient":"Alice","body":"Check www.secure-systems-252.com"}`, []string{"chat:alice"}},
		{"send_channel_message", `{"channel":"general","body":"hi"}`, []string{"chat:general"}},
		{"reserve_hotel", `{"hotel":"Riverside View Hotel","start_day":"2024-05-13","end_day":"2024-05-17"}`, []string{"party:riverside view hotel"}},
		{"reserve_car_rental", `{"company":"SunSet Rent-A-Car","start_time":"2024-05-01 09:00"}`, []string{"party:sunset rent-a-car"}},
		{"GmailSendEmail", `{"to":"amy.watson@gmail.com","subject":"x","body":"y"}`, []string{"email:amy.watson@gmail.com", "email_domain:gmail.com"}},
		{"BankManagerTransferFunds", `{"from_account_number":"123-1234-1234","to_account_number":"323-3232-3232","amount":100}`, []string{"account:323-3232-3232"}},
		{"BankManagerPayBill", `{"payee_id":"P-123","service_account_number":"9","amount":5}`, []string{"account:P-123"}},
		{"VenmoSendMoney", `{"recipient_username":"Amy","amount":500}`, []string{"account:AMY"}},
		{"BinanceWithdraw", `{"currency":"BTC","amount":1,"destination_address":"bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"}`, []string{"account:BC1QXY2KGDYGJRSQTZQ2N0YRF2493P83KKFJHX0WLH"}},
		{"DropboxShareItem", `{"item_path":"/doc","recipient_email":"amy.watson@gmail.com","access_level":"edit"}`, []string{"email:amy.watson@gmail.com", "email_domain:gmail.com"}},
		{"SlackSendMessage", `{"recipient":"@amy","message":"hi"}`, []string{"chat:amy"}},
		{"GitHubManageCollaborator", `{"repo_id":"r","action":"add","collaborator_username":"Amy"}`, []string{"chat:amy"}},
		{"read_channel_messages", `{"channel":"general"}`, []string{"chat:general"}}, // reading tools with these names get a (closed) vocabulary too
		{"search_emails", `{"query":"security code","sender":"security@facebook.com"}`, nil},
	} {
		if got := e.Normalized(c.tool, Input, []byte(c.raw)); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.tool, got, c.want)
		}
	}
}
