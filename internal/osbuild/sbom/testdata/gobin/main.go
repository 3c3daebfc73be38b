// Command gobin is a tiny program for TestReadGoBinary: it links one module
// besides the standard library, which its build info must name.
package main

import (
	"fmt"

	"github.com/package-url/packageurl-go"
)

func main() { fmt.Println(packageurl.TypeDebian) }
