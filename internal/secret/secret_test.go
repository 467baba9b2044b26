package secret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Ref
		wantErr string
	}{
		{"", Ref{}, ""},
		{"env:TW_HMAC", Env("TW_HMAC"), ""},
		{"file:/etc/toolwatch/hmac", File("/etc/toolwatch/hmac"), ""},
		{"file: relative/key ", File("relative/key"), ""},
		{"hunter2", Ref{}, "must be a file or env reference, not a literal"},
		{"http://user:pw@host", Ref{}, "must be a file or env reference, not a literal"},
		{"env:", Ref{}, `env reference needs a name after "env:"`},
		{"env:A=B", Ref{}, `env reference "A=B" is not a variable name`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Parse(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if back, err := Parse(got.String()); err != nil || back != got {
			t.Errorf("Parse(%q.String()) = %v, %v; want %v", tt.in, back, err, got)
		}
	}
	if !errors.Is(func() error { _, err := Parse("x"); return err }(), ErrLiteral) {
		t.Error("a literal is not ErrLiteral")
	}
}

// secretFiles writes a file holding "s3cr3t" (with a line ending) and one
// holding only a newline, and sets TW_SECRET_TEST; it returns their paths
// and the directory.
func secretFiles(t *testing.T) (key, empty, dir string) {
	t.Helper()
	dir = t.TempDir()
	key, empty = filepath.Join(dir, "key"), filepath.Join(dir, "empty")
	for path, content := range map[string]string{key: "s3cr3t\r\n", empty: "\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TW_SECRET_TEST", "from-env")
	return key, empty, dir
}

func TestResolve(t *testing.T) {
	key, empty, dir := secretFiles(t)
	tests := []struct {
		ref     Ref
		want    string
		wantErr bool
	}{
		{Ref{}, "", false},
		{File(key), "s3cr3t", false},
		{Env("TW_SECRET_TEST"), "from-env", false},
		{File(filepath.Join(dir, "missing")), "", true},
		{File(empty), "", true},
		{Env("TW_SECRET_TEST_UNSET_VAR"), "", true},
	}
	for _, tt := range tests {
		got, err := tt.ref.Resolve()
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%v.Resolve() = %q, %v; want %q, err %v", tt.ref, got, err, tt.want, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}

func TestTextRoundTrip(t *testing.T) {
	for _, r := range []Ref{{}, Env("A_B"), File("/x/y")} {
		b, _ := r.MarshalText()
		var back Ref
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Errorf("round trip %v: got %v, %v", r, back, err)
		}
	}
}

func TestRead(t *testing.T) {
	key, empty, dir := secretFiles(t)
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name, file, env string
		want, wantErr   string // wantErr: the error's start ("" for none)
	}{
		{"file", key, "", "s3cr3t", ""},
		{"env", "", "TW_SECRET_TEST", "from-env", ""},
		{"neither", "", "", "", "nats password: no password_file or password_env configured"},
		{"both", key, "TW_SECRET_TEST", "", "nats password_env: cannot be combined with password_file"},
		{"missing file", missing, "", "", "nats password_file: secret file:" + missing + ": open "},
		{"empty file", empty, "", "", "nats password_file: secret file:" + empty + ": is empty"},
		{"unset env", "", "TW_SECRET_TEST_UNSET_VAR", "", "nats password_env: secret env:TW_SECRET_TEST_UNSET_VAR: variable not set"},
	}
	for _, tt := range tests {
		got, err := Read("nats", "password", tt.file, tt.env)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want it to start with %q", tt.name, err, tt.wantErr)
		case got != tt.want:
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error leaks the secret: %v", tt.name, err)
		}
	}
}
