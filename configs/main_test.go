package configs

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// helperEnv switches the test binary into a helper: "socketproblems"
// prints SocketProblems of the unix socket path in its first argument.
const helperEnv = "POOLD_CONFIGS_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "socketproblems" {
		fmt.Println(SocketProblems("poold.toml", []Socket{{Name: "api", Family: "unix", Path: os.Args[1]}}))
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
