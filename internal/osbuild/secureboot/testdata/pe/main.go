// Command pe is built for windows/amd64 by the tests: a small, valid PE
// binary to sign, as systemd-boot and the UKI are PE binaries.
package main

func main() {}
