package arbiter

// HoldSpawnForTest makes fn run on the loop as each worker's start waits
// for its fork (Options.holdSpawn), for the tests of package arbiter_test.
func HoldSpawnForTest(o *Options, fn func()) { o.holdSpawn = fn }
