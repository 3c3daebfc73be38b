package apply

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark/bulwark/internal/daemonconfig"
	"github.com/bulwark/bulwark/internal/dockerfloor"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// unb64 decodes a "data:;base64," source.
func unb64(t *testing.T, src string) []byte {
	_, enc, _ := strings.Cut(src, ",")
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// caSource returns the contents source of /etc/docker/tls/ca.pem in raw.
func caSource(t *testing.T, raw string) string {
	var cfg struct {
		Storage struct {
			Files []struct {
				Path     string `json:"path"`
				Contents struct {
					Source string `json:"source"`
				} `json:"contents"`
			} `json:"files"`
		} `json:"storage"`
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	for _, f := range cfg.Storage.Files {
		if f.Path == "/etc/docker/tls/ca.pem" {
			return f.Contents.Source
		}
	}
	t.Fatal("no ca.pem in the config")
	return ""
}

// testFloor is the floor osbuild puts in the image.
func testFloor(t testing.TB) daemonconfig.Config {
	t.Helper()
	f, err := dockerfloor.Parse("floor", dockerfloor.Embedded())
	if err != nil {
		t.Fatal(err)
	}
	return f
}
