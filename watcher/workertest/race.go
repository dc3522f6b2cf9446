//go:build race

package workertest

const raceBuild = true
