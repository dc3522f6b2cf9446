package web

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/poold/poold/arbiter"
)

// unknownProps is the error reply's reason for the properties of an API
// body that command does not read, "" when it reads them all. The
// control endpoint ignores such keys, as circusd does; the API is
// poold's own, and there a misspelt "name", or the properties wrapped
// as a whole wire request ({"command", "properties"}), would make a
// command meant for one watcher act on every watcher.
func unknownProps(command string, props map[string]any) string {
	known := arbiter.Properties(command)
	var unknown []string
	for k := range props {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return ""
	}
	sort.Strings(unknown)
	takes := command + " takes no properties"
	if len(known) > 0 {
		takes = command + " takes: " + strings.Join(known, ", ")
	}
	quoted := make([]string, len(unknown))
	for i, k := range unknown {
		quoted[i] = strconv.Quote(k)
	}
	if _, wrapped := props["properties"]; wrapped {
		return fmt.Sprintf("%s: the body is a whole wire request (%s); the API takes the command in the URL and its properties alone as the body: POST %s%s with %s (%s); nothing was run",
			command, strings.Join(quoted, ", "), apiPrefix, command, wrappedExample(props["properties"]), takes)
	}
	what := "property"
	if len(unknown) > 1 {
		what = "properties"
	}
	return fmt.Sprintf("%s: unknown %s %s in the body (%s); nothing was run", command, what, strings.Join(quoted, ", "), takes)
}

// wrappedExample is the properties of a wrapped request as the body to
// send instead, or a made-up one when they are not a small object.
func wrappedExample(v any) string {
	if o, ok := v.(map[string]any); ok {
		if b, err := json.Marshal(o); err == nil && len(b) <= 200 {
			return string(b)
		}
	}
	return `{"name": "web"}`
}
