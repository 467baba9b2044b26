package dest

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// Kind says how an argument's value is read (package doc, step 2).
type Kind string

// Argument kinds.
const (
	KindEmail   Kind = "email"
	KindURL     Kind = "url"
	KindAccount Kind = "account"
	KindChat    Kind = "chat"
	KindParty   Kind = "party"
	KindText    Kind = "text"
)

var kinds = []Kind{KindEmail, KindURL, KindAccount, KindChat, KindParty, KindText}

// Config is the `destinations` section: the organisation's key and the
// per-tool argument map.
type Config struct {
	// KeyFile holds the HMAC key (its trimmed contents, >= 16 bytes); the
	// key is never written in the configuration.
	KeyFile string `yaml:"key_file"`
	// KeyEnv names an environment variable holding the key instead.
	KeyEnv string `yaml:"key_env"`
	// Builtins adds Builtins() to Tools.
	Builtins bool `yaml:"builtins"`
	// Tools are the configured rules; every rule whose glob matches a tool
	// applies (with the built-ins).
	Tools []Rule `yaml:"tools"`
}

// Rule maps argument paths of the tools matching Tool to kinds.
type Rule struct {
	// Tool is a path.Match glob over the tool name, matched
	// case-insensitively ("*send*mail*" matches GmailSendEmail); '*' also
	// matches '/' (MCP-style "server/tool" names).
	Tool string `yaml:"tool" json:"tool"`
	// Input maps argument paths of the tool input to kinds.
	Input map[string]Kind `yaml:"input" json:"input,omitempty"`
	// Output maps paths of the tool output to kinds.
	Output map[string]Kind `yaml:"output" json:"output,omitempty"`
}

// DefaultDestinations returns the defaults: built-in rules on, no key.
func DefaultDestinations() Config { return Config{Builtins: true} }

// Rules returns the rules in effect: the configured ones, then the
// built-ins when enabled.
func (c *Config) Rules() []Rule {
	rs := append([]Rule(nil), c.Tools...)
	if c.Builtins {
		rs = append(rs, Builtins()...)
	}
	return rs
}

// Validate checks globs, paths and kinds; paths are relative to
// `destinations`. Errors name keys, never a key's contents.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	if c.KeyFile != "" && c.KeyEnv != "" {
		es.Addf("key_env", "cannot be combined with key_file")
	}
	for i, r := range c.Tools {
		p := fmt.Sprintf("tools[%d]", i)
		if strings.TrimSpace(r.Tool) == "" {
			es.Addf(p+".tool", "must name a tool or a glob")
		} else if _, err := path.Match(r.Tool, ""); err != nil {
			es.Addf(p+".tool", "bad glob: %v", err)
		}
		if len(r.Input) == 0 && len(r.Output) == 0 {
			es.Addf(p, "needs input or output paths")
		}
		for _, m := range [...]struct {
			key   string
			paths map[string]Kind
		}{{"input", r.Input}, {"output", r.Output}} {
			for _, ap := range sortedKeys(m.paths) {
				if err := checkPath(ap); err != "" {
					es.Addf(p+"."+m.key, "path %q: %s", ap, err)
				}
				if !validKind(m.paths[ap]) {
					es.Addf(p+"."+m.key, "path %q: unknown kind %q (one of email, url, account, chat, party, text)", ap, m.paths[ap])
				}
			}
		}
	}
	return es
}

func validKind(k Kind) bool {
	for _, x := range kinds {
		if k == x {
			return true
		}
	}
	return false
}

// checkPath returns why p is not an argument path, or "".
func checkPath(p string) string {
	if p == "." {
		return ""
	}
	if p == "" || strings.TrimSpace(p) != p {
		return "must be non-empty without surrounding blanks"
	}
	for _, s := range strings.Split(p, ".") {
		if s == "" {
			return "has an empty segment"
		}
	}
	return ""
}

func sortedKeys(m map[string]Kind) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Builtins returns the built-in rules, written for the tool names and
// argument names of public agent benchmarks and common tool kits (AgentDojo,
// InjecAgent-style CamelCase names, MCP servers). Argument names that are
// unambiguous anywhere apply to every tool; the others only to the tools
// whose name says what they do. Outputs of every tool are scanned as text.
func Builtins() []Rule {
	emails := map[string]Kind{"to": KindEmail, "cc": KindEmail, "bcc": KindEmail, "recipients": KindEmail,
		"recipient": KindEmail, "to_address": KindEmail, "reply_to": KindEmail}
	return []Rule{
		{Tool: "*", Input: map[string]Kind{
			"url": KindURL, "uri": KindURL, "link": KindURL, "endpoint": KindURL, "webhook": KindURL,
			"webhook_url": KindURL, "callback_url": KindURL, "target_url": KindURL, "website": KindURL,
			"email": KindEmail, "emails": KindEmail, "email_address": KindEmail, "user_email": KindEmail,
			"recipient_email": KindEmail, "recipient_emails": KindEmail, "to_email": KindEmail,
			"iban": KindAccount, "recipient_iban": KindAccount, "account_number": KindAccount,
			"to_account_number": KindAccount, "recipient_account": KindAccount,
		}, Output: map[string]Kind{".": KindText}},
		{Tool: "*mail*", Input: emails},
		{Tool: "*calendar*", Input: map[string]Kind{"participants": KindEmail, "attendees": KindEmail, "invitees": KindEmail}},
		{Tool: "*event*", Input: map[string]Kind{"participants": KindEmail, "attendees": KindEmail, "invitees": KindEmail}},
		{Tool: "*meeting*", Input: map[string]Kind{"participants": KindEmail, "attendees": KindEmail, "invitees": KindEmail}},
		{Tool: "*share*", Input: map[string]Kind{"recipient": KindEmail, "recipients": KindEmail, "share_with": KindEmail}},
		{Tool: "*send*money*", Input: accounts()},
		{Tool: "*transfer*", Input: accounts()},
		{Tool: "*transaction*", Input: accounts()},
		{Tool: "*pay*", Input: accounts()},
		{Tool: "*withdraw*", Input: accounts()},
		{Tool: "*message*", Input: chats()},
		{Tool: "*send*dm*", Input: chats()},
		{Tool: "*channel*", Input: map[string]Kind{"channel": KindChat, "channel_id": KindChat, "user": KindChat, "username": KindChat}},
		{Tool: "*invite*", Input: map[string]Kind{"user": KindChat, "username": KindChat, "user_id": KindChat}},
		{Tool: "*collaborator*", Input: map[string]Kind{"collaborator_username": KindChat, "username": KindChat}},
		{Tool: "*reserve*", Input: parties()},
		{Tool: "*book*", Input: parties()},
	}
}

func accounts() map[string]Kind {
	return map[string]Kind{"recipient": KindAccount, "to_account": KindAccount, "destination_account": KindAccount,
		"destination_address": KindAccount, "beneficiary": KindAccount, "payee": KindAccount,
		"recipient_username": KindAccount, "account": KindAccount, "account_id": KindAccount, "payee_id": KindAccount}
}

func chats() map[string]Kind {
	return map[string]Kind{"recipient": KindChat, "recipient_id": KindChat, "recipient_username": KindChat,
		"channel": KindChat, "channel_id": KindChat, "to": KindChat}
}

func parties() map[string]Kind {
	return map[string]Kind{"hotel": KindParty, "hotel_name": KindParty, "restaurant": KindParty,
		"restaurant_name": KindParty, "company": KindParty, "company_name": KindParty, "vendor": KindParty, "merchant": KindParty, "venue": KindParty}
}
