// Command nodecfg configures one Bulwark node: it mints TLS material, renders
// a node spec into an Ignition config at provision time, and checks configs
// and authz decisions. See `nodecfg help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark/bulwark/internal/atomicfile"
	"github.com/bulwark/bulwark/internal/authz"
	"github.com/bulwark/bulwark/internal/cliparse"
	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/health"
	"github.com/bulwark/bulwark/internal/lxcfs"
	"github.com/bulwark/bulwark/internal/nodecfg/apply"
	"github.com/bulwark/bulwark/internal/nodecfg/render"
	"github.com/bulwark/bulwark/internal/nodepaths"
	"github.com/bulwark/bulwark/internal/nodespec"
	"github.com/bulwark/bulwark/internal/pki"
	"github.com/bulwark/bulwark/internal/sysupdate"
)

// Exit codes, for every command.
const (
	exitOK     = 0
	exitFailed = 1 // includes an invalid node spec or policy (validate)
	exitUsage  = 2
	exitDenied = 3   // authz check: the request would be denied
	exitCancel = 130 // interrupted (SIGINT, SIGTERM)
)

const usage = `usage: nodecfg <command> [flags]

commands:
  certs --out DIR --host H [--ip A]... [--dns N]... [--client USER]...
                            mint a CA (kept if DIR has one), a server certificate for H
                            and client certificates (CN = USER)
  render [-o FILE] NODE.yaml render the node spec as an Ignition config (stdout by default)
  validate NODE.yaml        run every check of render without writing anything
  validate --policy FILE [NODE.yaml]
                            also lint an authz policy file (the format authz serve reads)
  apply [--root DIR] [--config FILE]
                            first boot: find the config (fw_cfg, OEM partition, or FILE),
                            validate all of it, then write it under DIR (default /)
  authz check --policy FILE (--user U | --tls=false) (--action A | --method M --uri URI)
              [--body FILE]
                            decide one request as the plugin would (same code): print allow
                            or deny with the rule and reason; exit 3 on deny. --action
                            stands for its route's request; --body is the JSON the client
                            sends (create, update, exec, volume create); --tls=false is
                            the local socket
  health                    check the node: its config applied, dockerd answering on its
                            socket, no failed unit; exit 1 naming what failed (run by
                            bulwark-health.service before boot-complete.target)
  update status             the running /usr version, the other slot's, and whether this
                            boot is blessed (systemd-sysupdate, systemd-bless-boot); start
                            an update with: systemctl start systemd-sysupdate
  authz serve [--policy FILE]
                            serve Docker's authorization plugin protocol on
                            /run/docker/plugins/bulwark-authz.sock; SIGHUP reloads the policy
`

func main() {
	if filepath.Base(os.Args[0]) == lxcfs.WrapperName {
		runtimeWrapper(os.Args[1:])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// runtimeWrapper is the image's default OCI runtime (daemon.json
// "default-runtime"): it adds lxcfs's /proc views to a container being
// created, then becomes runc with the same arguments. It never returns.
func runtimeWrapper(args []string) {
	if err := lxcfs.Prepare(args, lxcfs.Dir); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", lxcfs.WrapperName, err)
		os.Exit(exitFailed)
	}
	err := syscall.Exec(lxcfs.Runc, append([]string{"runc"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "%s: exec %s: %v\n", lxcfs.WrapperName, lxcfs.Runc, err)
	os.Exit(exitFailed)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	var err error
	switch args[0] {
	case "certs":
		err = certs(args[1:])
	case "render", "validate":
		fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
		out := fs.String("o", "", "write the config here (atomically) instead of stdout")
		base := fs.String("base-daemon-json", "", "check against this floor daemon.json instead of the one built into nodecfg (the one osbuild puts in the image)")
		warn := fs.Duration("warn-expiry", 30*24*time.Hour, "warn when a certificate expires within this")
		policy := new(string)
		if args[0] == "validate" {
			policy = fs.String("policy", "", "also lint this authz policy file")
		}
		pos, perr := cliparse.Parse(fs, args[1:])
		if perr != nil || len(pos) > 1 || len(pos) == 0 && *policy == "" {
			fmt.Fprint(os.Stderr, usage)
			return exitUsage
		}
		if *policy != "" {
			err = lintPolicy(*policy)
		}
		if err == nil && len(pos) == 1 {
			err = renderCmd(pos[0], *out, *base, *warn, args[0] == "validate")
		}
	case "apply":
		fs := flag.NewFlagSet("apply", flag.ContinueOnError)
		root := fs.String("root", "/", "root directory to apply under")
		config := fs.String("config", "", "config file (default: fw_cfg, then the OEM partition)")
		if pos, perr := cliparse.Parse(fs, args[1:]); perr != nil || len(pos) != 0 {
			fmt.Fprint(os.Stderr, usage)
			return exitUsage
		}
		err = applyCmd(ctx, *root, *config)
	case "health":
		if len(args) != 1 {
			fmt.Fprint(os.Stderr, usage)
			return exitUsage
		}
		err = health.Run(ctx, health.Node(nodepaths.Record, strings.TrimPrefix(nodepaths.UnixSocket, "unix://")).Checks(), func(name string, err error) {
			if err != nil {
				fmt.Printf("FAIL %s: %v\n", name, err)
			} else {
				fmt.Printf("ok   %s\n", name)
			}
		})
	case "update":
		if len(args) != 2 || args[1] != "status" {
			fmt.Fprint(os.Stderr, usage)
			return exitUsage
		}
		var st sysupdate.Status
		var running string
		if running, err = sysupdate.RunningVersion(sysupdate.OSRelease); err == nil {
			if st, err = sysupdate.ReadStatus(ctx, sysupdate.Exec, running); err == nil {
				fmt.Print(st)
			}
		}
	case "authz":
		if len(args) >= 2 && args[1] == "serve" {
			fs := flag.NewFlagSet("authz serve", flag.ContinueOnError)
			policy := fs.String("policy", nodepaths.PolicyPath, "policy file")
			if err := fs.Parse(args[2:]); err != nil {
				return exitUsage
			}
			err = authz.Serve(ctx, *policy, authz.SocketDir)
			break
		}
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprint(os.Stderr, usage)
			return exitUsage
		}
		fs := flag.NewFlagSet("authz check", flag.ContinueOnError)
		policy := fs.String("policy", "", "policy file (one JSON rule per line)")
		var in authz.CheckInput
		fs.StringVar(&in.User, "user", "", "the client certificate CN")
		tls := fs.Bool("tls", true, "the request comes over TLS (false: the local unix socket, no user)")
		fs.StringVar(&in.Action, "action", "", "action name, such as container_create (stands for its route's request)")
		fs.StringVar(&in.Method, "method", "", "HTTP method of the request")
		fs.StringVar(&in.URI, "uri", "", "request URI, such as /v1.45/containers/create")
		body := fs.String("body", "", "file with the request's JSON body (- for stdin)")
		if pos, perr := cliparse.Parse(fs, args[2:]); perr != nil || *policy == "" || len(pos) != 0 {
			fmt.Fprint(os.Stderr, usage)
			return exitUsage
		}
		in.LocalSocket = !*tls
		var allow bool
		allow, err = authzCheck(*policy, in, *body)
		if errors.Is(err, errCheckUsage) {
			fmt.Fprintf(os.Stderr, "nodecfg: %v\n\n%s", err, usage)
			return exitUsage
		}
		if err == nil && !allow {
			return exitDenied
		}
	default:
		fmt.Fprintf(os.Stderr, "nodecfg: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nodecfg: %v\n", err)
		if errors.Is(err, context.Canceled) {
			return exitCancel
		}
		return exitFailed
	}
	return exitOK
}

func certs(args []string) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	out := fs.String("out", "", "directory for the PEM files")
	host := fs.String("host", "", "server host name (CN and first DNS SAN)")
	keyType := fs.String("key-type", string(pki.ECDSA), "ecdsa-p256, ed25519 or rsa-3072")
	days := fs.Int("days", 365, "validity of server and client certificates")
	var ips, dns, clients listFlag
	fs.Var(&ips, "ip", "IP SAN for the server (repeatable)")
	fs.Var(&dns, "dns", "extra DNS SAN for the server (repeatable)")
	fs.Var(&clients, "client", "mint a client certificate for this user (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || (*host == "" && len(clients) == 0) {
		return errors.New("certs: --out and at least one of --host or --client are required")
	}
	// Every name becomes a file name in --out: all are checked, with the
	// addresses and the validity, before anything is written.
	validity := time.Duration(*days) * 24 * time.Hour
	bad := []error{pki.CheckValidity(validity)}
	if *host != "" {
		bad = append(bad, pki.CheckHostName(*host), pki.CheckStem(*host))
	}
	for _, u := range clients {
		bad = append(bad, pki.CheckClientName(u))
	}
	var ipList []net.IP
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			bad = append(bad, fmt.Errorf("--ip %q is not an IP address", s))
		}
		ipList = append(ipList, ip)
	}
	if err := errors.Join(bad...); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	st, err := pki.OpenStore(*out)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	kt := pki.KeyType(*keyType)
	ca, made, err := st.CA(kt, now)
	if err != nil {
		return err
	}
	if made {
		fmt.Printf("certs: made a new CA in %s (keep %s offline)\n", filepath.Join(*out, pki.CAFile), pki.CAKeyFile)
	} else {
		fmt.Printf("certs: using the CA in %s\n", filepath.Join(*out, pki.CAFile))
	}
	write := func(name string, p *pki.Pair) error {
		if err := st.Write(name, p); err != nil {
			return err
		}
		fmt.Printf("certs: wrote %s.pem and %s-key.pem (expires %s)\n", filepath.Join(*out, name), filepath.Join(*out, name), p.Cert.NotAfter.Format(time.DateOnly))
		return nil
	}
	if *host != "" {
		srv, err := pki.NewServer(ca, *host, dns, ipList, kt, validity, now)
		if err != nil {
			return err
		}
		if err := write(*host, srv); err != nil {
			return err
		}
	}
	for _, u := range clients {
		c, err := pki.NewClient(ca, u, kt, validity, now)
		if err != nil {
			return err
		}
		if err := write("client-"+u, c); err != nil {
			return err
		}
	}
	return nil
}

func renderCmd(specPath, out, base string, warn time.Duration, validateOnly bool) error {
	s, err := nodespec.Load(specPath)
	if err != nil {
		return err
	}
	var floor []byte
	if base != "" {
		if floor, err = os.ReadFile(base); err != nil {
			return fmt.Errorf("reading the floor daemon.json: %w", err)
		}
	}
	res, err := render.Render(s, render.Options{Floor: floor, Now: time.Now(), WarnWithin: warn})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "nodecfg: %s: docker settings checked on %s (the node merges them over the floor in its own /usr)\n", specPath, res.Floor)
	for _, w := range res.Warnings {
		fmt.Fprintf(os.Stderr, "nodecfg: warning: %s: %s\n", specPath, w)
	}
	if validateOnly {
		fmt.Fprintf(os.Stderr, "nodecfg: %s: valid (Ignition %s, %d files, %d users, %d units)\n", specPath, render.IgnitionSpec, len(res.Config.Storage.Files), len(res.Config.Passwd.Users), len(res.Config.Systemd.Units))
		return nil
	}
	if out == "" {
		_, err = os.Stdout.Write(res.JSON)
		return err
	}
	// The config carries the server's private key: owner-only.
	return atomicfile.WriteFile(out, res.JSON, 0o600)
}

// applyCmd is the first-boot job. Its unit orders it before the authz
// plugin and docker, which require it: if it fails, docker does not start.
func applyCmd(ctx context.Context, root, config string) error {
	start := time.Now()
	raw, source, err := apply.Find(ctx, config)
	if errors.Is(err, apply.ErrNoConfig) {
		fmt.Println("nodecfg: no Ignition config (fw_cfg, OEM partition): keeping the image defaults, Docker API on the local socket only")
		return nil
	}
	if err != nil {
		return err
	}
	floorPath := filepath.Join(root, dockerfloor.NodePath)
	floorJSON, err := os.ReadFile(floorPath)
	if err != nil {
		return fmt.Errorf("config from %s not applied: the image's docker floor: %w", source, err)
	}
	floor, err := dockerfloor.Parse(floorPath, floorJSON)
	if err != nil {
		return fmt.Errorf("config from %s not applied: the image's docker floor: %w", source, err)
	}
	c, warnings, err := apply.Parse(source, raw, apply.CheckOptions{Now: time.Now(), WarnWithin: 30 * 24 * time.Hour, Floor: floor, FloorSource: floorPath})
	for _, w := range warnings {
		fmt.Printf("nodecfg: warning: %s\n", w)
	}
	if err != nil {
		return fmt.Errorf("config from %s rejected, nothing written:\n%w", source, err)
	}
	if ran, err := apply.DockerdValidate(ctx, c, root); err != nil {
		return fmt.Errorf("config from %s rejected, nothing written: %w", source, err)
	} else if ran {
		fmt.Println("nodecfg: dockerd --validate accepts daemon.json")
	}
	o := apply.Options{Root: root, Source: source, Log: func(f string, a ...any) { fmt.Printf("nodecfg: "+f+"\n", a...) }}
	if root == "/" {
		o.Relabel = apply.Restorecon
		o.SetHostname = func(name string) error { return unix.Sethostname([]byte(name)) }
	}
	did, err := apply.Apply(ctx, c, o)
	if err != nil {
		return err
	}
	if did {
		fmt.Printf("nodecfg: applied %s from %s in %s\n", c.Digest, source, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// errCheckUsage marks an authz check whose flags describe no request.
var errCheckUsage = errors.New("authz check")

// authzCheck decides one request through Policy.Authorize, the plugin's
// own entry point, on the request dockerd would send for in.
func authzCheck(policyPath string, in authz.CheckInput, bodyPath string) (bool, error) {
	p, err := authz.Load(policyPath)
	if err != nil {
		return false, err
	}
	switch bodyPath {
	case "":
	case "-":
		in.Body, err = io.ReadAll(os.Stdin)
	default:
		in.Body, err = os.ReadFile(bodyPath)
	}
	if err != nil {
		return false, fmt.Errorf("reading the request body: %w", err)
	}
	req, err := in.Request()
	if err != nil {
		if in.Action != "" && !slices.Contains(authz.Actions(), in.Action) {
			err = fmt.Errorf("%w (known: %s)", err, strings.Join(authz.Actions(), ", "))
		}
		return false, fmt.Errorf("%w: %w", errCheckUsage, err)
	}
	d := p.Authorize(req)
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	fmt.Printf("%s %s %s action=%s rule=%q: %s\n", verdict, req.RequestMethod, req.RequestURI, d.Action, d.Rule, d.Reason)
	if len(in.Body) == 0 && authz.InspectsBody(d.Action) {
		fmt.Fprintf(os.Stderr, "nodecfg: %s is decided on its body: pass --body FILE with the JSON the client sends\n", d.Action)
	}
	return d.Allow, nil
}

// lintPolicy runs every check of the policy parser (the plugin refuses a
// policy that fails one) on a policy file.
func lintPolicy(path string) error {
	p, err := authz.Load(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "nodecfg: %s: valid (%d rules)\n", path, len(p.Rules))
	return nil
}
