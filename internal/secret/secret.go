// Package secret reads credentials kept outside the configuration file.
// A configuration names each secret by a pair of keys, <key>_file (the
// file's contents, trailing newline trimmed) and <key>_env (an environment
// variable), never inline (docs/design.md §8). Read resolves such a pair
// when a component starts; it is the one way the daemon reads a
// credential (NATS, OTLP, Alertmanager, webhook). Ref is one reference
// ("file:PATH" or "env:NAME"): its text form refuses an inline literal,
// and String never prints the secret itself.
package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrLiteral is returned for a value that is not a file or env reference.
var ErrLiteral = errors.New("must be a file or env reference, not a literal")

// Ref names where a secret is read from. The zero Ref means "not set".
type Ref struct {
	kind string // "file" or "env"; "" when unset
	name string // path or variable name
}

// File returns a reference to the contents of path.
func File(path string) Ref { return Ref{kind: "file", name: path} }

// Env returns a reference to the environment variable name.
func Env(name string) Ref { return Ref{kind: "env", name: name} }

// Parse reads "file:PATH" or "env:NAME"; "" gives the zero Ref.
func Parse(s string) (Ref, error) {
	if s == "" {
		return Ref{}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || (kind != "file" && kind != "env") {
		return Ref{}, ErrLiteral
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return Ref{}, fmt.Errorf("%s reference needs a name after %q", kind, kind+":")
	}
	if kind == "env" && strings.ContainsAny(name, "= \t") {
		return Ref{}, fmt.Errorf("env reference %q is not a variable name", name)
	}
	return Ref{kind: kind, name: name}, nil
}

// IsZero reports whether no reference is set.
func (r Ref) IsZero() bool { return r.kind == "" }

// IsFile reports whether r names a file; Name is then its path.
func (r Ref) IsFile() bool { return r.kind == "file" }

// IsEnv reports whether r names an environment variable; Name is its name.
func (r Ref) IsEnv() bool { return r.kind == "env" }

// Name is the file path or variable name.
func (r Ref) Name() string { return r.name }

// String returns the reference ("env:NAME"), never the secret.
func (r Ref) String() string {
	if r.kind == "" {
		return ""
	}
	return r.kind + ":" + r.name
}

// MarshalText writes the reference form.
func (r Ref) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses the reference form; a literal is an error.
func (r *Ref) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Resolve reads the secret. An unset Ref resolves to "" without error; a
// missing variable, an unreadable file or an empty secret is an error.
func (r Ref) Resolve() (string, error) {
	var v string
	switch r.kind {
	case "":
		return "", nil
	case "env":
		s, ok := os.LookupEnv(r.name)
		if !ok {
			return "", fmt.Errorf("secret %s: variable not set", r)
		}
		v = s
	case "file":
		b, err := os.ReadFile(r.name)
		if err != nil {
			return "", fmt.Errorf("secret %s: %w", r, err)
		}
		v = strings.TrimRight(string(b), "\r\n")
	}
	if v == "" {
		return "", fmt.Errorf("secret %s: is empty", r)
	}
	return v, nil
}

// Read resolves the secret a configuration section names by its keys
// <key>_file and <key>_env (env "" where the section has only a _file
// key); exactly one must be set. It is how every component reads a
// credential, and its errors name the key:
//
//	nats password_file: secret file:/run/pw: open /run/pw: no such file or directory
//	webhook secret: no secret_file or secret_env configured
func Read(section, key, file, env string) (string, error) {
	switch {
	case file == "" && env == "":
		return "", fmt.Errorf("%s %s: no %s_file or %s_env configured", section, key, key, key)
	case file != "" && env != "":
		return "", fmt.Errorf("%s %s_env: cannot be combined with %s_file", section, key, key)
	}
	v, err := Lookup(file, env)
	if err != nil {
		suffix := "_env"
		if file != "" {
			suffix = "_file"
		}
		return "", fmt.Errorf("%s %s%s: %w", section, key, suffix, err)
	}
	return v, nil
}

// Lookup resolves the secret named by a config's pair of fields, a file
// path and an environment variable name, of which at most one may be set
// (the loaders check that). Neither set gives "" without error.
func Lookup(file, env string) (string, error) {
	switch {
	case file != "" && env != "":
		return "", fmt.Errorf("secret: both file %q and env %q are set; set one", file, env)
	case file != "":
		return File(file).Resolve()
	case env != "":
		return Env(env).Resolve()
	}
	return "", nil
}
