package arbiter

import (
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// A reload that rotated the console token or an API token reported
// "settings": [] and logged changes="no change", so an operator could not
// tell that the new token was taken. The reply now names them, and the
// log too, without their values.
func TestReloadConfigNamesRotatedTokens(t *testing.T) {
	const oldTok, newTok, apiTok = "old-console-secret-0123", "new-console-secret-4567", "api-secret-token-89ab"
	base := &configs.Config{Arbiter: configs.DefaultArbiter(), Web: configs.Web{Token: oldTok}}
	next := &configs.Config{Arbiter: configs.DefaultArbiter(), Web: configs.Web{Token: newTok, ReadOnly: true,
		APITokens: []string{"operator:/etc/poold/ops.token"},
		Tokens:    []configs.APIToken{{Role: configs.RoleOperator, File: "/etc/poold/ops.token", Token: apiTok}}}}
	rec := &onConfigRecorder{}
	h := start(t, base, Options{Load: func() (*configs.Config, error) { return next, nil }, OnConfig: rec.hook})
	r := h.do("reloadconfig", map[string]any{"waiting": true})
	want := []string{"web.api_tokens", "web.read_only", "web.token"}
	if got, _ := r["settings"].([]string); !slices.Equal(got, want) {
		t.Errorf("settings %q, want %q", got, want)
	}
	log := h.log.String()
	if !strings.Contains(log, "web: api_tokens changed, read_only false -> true, token changed") {
		t.Errorf("the log does not name the rotated tokens:\n%s", log)
	}
	for _, secret := range []string{oldTok, newTok, apiTok} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows a token:\n%s", log)
		}
	}
}
