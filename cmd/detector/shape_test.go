package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// detector shape prints the record fields of a raw input or output: the
// same hashes as the package's test vectors for the same key, and never a
// raw value, also not in its notes.
func TestShapeCommand(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "dest.key")
	os.WriteFile(key, []byte("toolwatch-test-vector-key-0001\n"), 0o600)
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("alerts:\n  cooldown: 5m\ndestinations:\n  key_file: "+key+"\n  builtins: false\n  tools:\n    - tool: crm.*\n      input: {contacts.email: email}\n"), 0o600)
	badCfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badCfg, []byte("destinations:\n  tools:\n    - tool: x\n      input: {to: phone}\n"), 0o600)
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("destinations:\n  key_fle: x\n"), 0o600)

	for _, c := range []struct {
		name, stdin string
		args        []string
		code        int
		out, errs   string
	}{
		{"input", `{"to":"attacker@gmail.com","subject":"x","body":"y"}`, []string{"--tool", "GmailSendEmail", "--key-file", key}, 0,
			// the hashes of vectors.json's "CamelCase tool name" vector
			`{"input_shape":"json{body:str,subject:str,to:str}","destinations":["email:d08086fecb17430d9ba8fe0cf6aafd10","email_domain:180db199d4761e82ed35577928c2f177"]}` + "\n", ""},
		{"output", "plain text: transfer to US133000000121212121212 now", []string{"--tool", "read_file", "--key-file", key, "--output"}, 0,
			`{"output_destinations":["account:4c7b61f7fa13855c89cbfa0d5cfc36e5"]}` + "\n", ""},
		{"config map and key", `{"contacts":[{"email":"A@B.com"}],"to":"x@y.z"}`, []string{"--tool", "crm.add", "--config", cfg}, 0,
			`{"input_shape":"json{contacts:arr[obj{email:str}],to:str}","destinations":["email:`, ""},
		{"nothing found, note names the argument", `{"to":"SECRET-not-an-address"}`, []string{"--tool", "send_email", "--key-file", key}, 0,
			`{"input_shape":"json{to:str}","destinations":[]}` + "\n", "shape: skipped to: value without a valid address\n"},
		{"no tool", "{}", []string{"--key-file", key}, 2, "", "shape: --tool is required\n"},
		{"no key", "{}", []string{"--tool", "x"}, 2, "", "shape: no destination key"},
		{"missing key file", "{}", []string{"--tool", "x", "--key-file", cfg + "-missing"}, 1, "", "no such file"},
		{"bad kind", "{}", []string{"--tool", "x", "--config", badCfg}, 1, "", `destinations.tools[0].input: path "to": unknown kind "phone"`},
		{"typo", "{}", []string{"--tool", "x", "--config", typo}, 1, "", "field key_fle not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCLI(t, c.stdin, append([]string{"shape"}, c.args...)...)
			if code != c.code || !strings.HasPrefix(out, c.out) || !strings.Contains(errs, c.errs) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errs, c.code, c.out, c.errs)
			}
			if strings.Contains(out+errs, "SECRET") || strings.Contains(out, "gmail") {
				t.Errorf("a raw value was printed")
			}
		})
	}
}
