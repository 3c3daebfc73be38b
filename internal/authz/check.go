package authz

import (
	"errors"
	"fmt"

	"github.com/docker/go-plugins-helpers/authorization"
)

// CheckInput describes one request for `nodecfg authz check`: who asks
// (User over TLS, or the local socket), and either an action name or the
// method and URI, with the JSON body the client would send.
type CheckInput struct {
	User        string
	LocalSocket bool
	Action      string
	Method, URI string
	Body        []byte
}

// Request builds the authorization.Request dockerd would send the plugin
// for in, so that the check is decided by Policy.Authorize exactly as the
// plugin decides. An action stands for the first route that defines it
// (RouteOf); its method, if given too, must be that route's.
func (in CheckInput) Request() (authorization.Request, error) {
	r := authorization.Request{RequestMethod: in.Method, RequestURI: in.URI, RequestBody: in.Body}
	switch {
	case in.LocalSocket && in.User != "":
		return r, errors.New("a request on the local socket has no user")
	case !in.LocalSocket:
		r.User, r.UserAuthNMethod = in.User, AuthNTLS
	}
	switch {
	case in.Action != "" && in.URI != "":
		return r, errors.New("give an action or a method and URI, not both")
	case in.Action != "":
		method, uri, ok := RouteOf(in.Action)
		if !ok {
			return r, fmt.Errorf("unknown action %q", in.Action)
		}
		if in.Method != "" && in.Method != method {
			return r, fmt.Errorf("action %s is %s %s, not %s", in.Action, method, uri, in.Method)
		}
		r.RequestMethod, r.RequestURI = method, uri
	case in.Method == "" || in.URI == "":
		return r, errors.New("give an action, or a method and URI")
	}
	return r, nil
}
