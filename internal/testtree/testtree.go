// Package testtree writes small file trees for tests: an image root, a
// policy store, a unit directory, each given as paths and contents.
package testtree

import (
	"os"
	"path/filepath"
	"testing"
)

// Write creates files (path relative to root → content) under root, with
// their parent directories, mode 0644 (directories 0755).
func Write(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		f := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
