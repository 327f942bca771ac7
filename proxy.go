package main

// Behind a reverse proxy: nginx, say, ends TLS on the public host and port
// and passes each request on to this server on loopback. The request that
// arrives here then names the proxy's view of things: its TCP peer is the
// proxy, and its Host is whatever the proxy chose to send (nginx's common
// "proxy_set_header Host $host" drops the port). What the visitor's browser
// asked for, the proxy tells in forwarding headers: Forwarded (RFC 7239),
// or the older X-Forwarded-Host, X-Forwarded-Proto and X-Forwarded-For.
//
// Anyone can send those headers, so they are believed only from the
// proxies the server was told to trust (-trusted-proxies), decided by the
// TCP peer's address, which no header can change. From any other peer they
// are ignored, and the request is judged as it arrived.

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// parseProxies parses the -trusted-proxies list: IP addresses
// (127.0.0.1, ::1) and CIDR prefixes (10.0.0.0/8), each a prefix.
func parseProxies(list []string) ([]netip.Prefix, error) {
	var proxies []netip.Prefix
	for _, item := range list {
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", item, err)
			}
			proxies = append(proxies, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", item, err)
		}
		a = a.Unmap()
		proxies = append(proxies, netip.PrefixFrom(a, a.BitLen()))
	}
	return proxies, nil
}

// isTrusted reports whether addr, an address with or without a port as
// RemoteAddr and Forwarded's for= spell them ("127.0.0.1:43210",
// "[::1]:43210", "[2001:db8::1]", "192.0.2.1"), is one of proxies.
// Anything else, such as for="unknown", is not.
func isTrusted(proxies []netip.Prefix, addr string) bool {
	ip, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	return slices.ContainsFunc(proxies, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// A forwarding is what the proxies said about a request: the host and
// scheme the client asked for, and the client's address; "" where they
// said nothing.
type forwarding struct {
	host, proto, client string
}

// publicRequest returns r as the client sent it to the proxy, if r came
// from a trusted proxy that said so: a shallow copy whose Host is the
// public host and port, and whose RemoteAddr is the client's address.
// That copy is what the Host guard and the origin check (ws.go) judge, and
// what the log names. A request from any other peer, or with no
// forwarding headers, is returned as it is.
//
// When the proxy names the scheme (https) and the host has no port, the
// scheme's default port is written out (localhost becomes localhost:443),
// so that the origin check, which compares host and port, compares them
// with the scheme the client really used: a page of http://app.example
// is not the own origin of https://app.example.
func (s *server) publicRequest(r *http.Request) *http.Request {
	if len(s.proxies) == 0 || !isTrusted(s.proxies, r.RemoteAddr) {
		return r
	}
	f := s.forwarded(r)
	if f == (forwarding{}) {
		return r
	}
	pub := *r // shallow: the headers are shared, and never changed
	if f.host != "" && isHostPort(f.host) {
		pub.Host = f.host
	}
	if _, _, err := net.SplitHostPort(pub.Host); err != nil && pub.Host != "" {
		switch strings.ToLower(f.proto) {
		case "http", "https", "ws", "wss":
			pub.Host = net.JoinHostPort(strings.Trim(pub.Host, "[]"), defaultPort(f.proto))
		}
	}
	if f.client != "" {
		pub.RemoteAddr = f.client
	}
	return &pub
}

// forwarded reads what the proxies said: Forwarded if it is there (RFC
// 7239 §4), and otherwise the X-Forwarded-* headers.
//
// Each proxy on the way appends the address it got the request from, so
// the list is read from the right, past the addresses of trusted proxies:
// the first one that is not is the client, and the entries to its left,
// which only the client wrote, are ignored. Forwarded's host= and proto=
// are taken from that same element, written by the outermost trusted
// proxy, the one the client talked to. X-Forwarded-Host and
// X-Forwarded-Proto carry no such pairing: their last value is the one
// the nearest proxy set (nginx's proxy_set_header replaces any the client
// sent).
func (s *server) forwarded(r *http.Request) forwarding {
	if lines := r.Header.Values("Forwarded"); len(lines) > 0 {
		elements := parseForwarded(strings.Join(lines, ","))
		i := s.outermost(len(elements), func(i int) string { return elements[i]["for"] })
		if i < 0 {
			return forwarding{}
		}
		e := elements[i]
		return forwarding{host: e["host"], proto: e["proto"], client: e["for"]}
	}
	var f forwarding
	f.host = lastItem(r.Header.Values("X-Forwarded-Host"))
	f.proto = lastItem(r.Header.Values("X-Forwarded-Proto"))
	var chain []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		chain = append(chain, splitList(line)...)
	}
	if i := s.outermost(len(chain), func(i int) string { return chain[i] }); i >= 0 {
		f.client = chain[i]
	}
	return f
}

// outermost returns the index of the client in a chain of n addresses,
// addr(i) each, appended one per proxy: the last one that is not a
// trusted proxy, or the first of all if they all are; -1 if n is 0.
func (s *server) outermost(n int, addr func(i int) string) int {
	i := n - 1
	for i > 0 && isTrusted(s.proxies, addr(i)) {
		i--
	}
	return i
}

// lastItem is the last item of a header's comma-separated values.
func lastItem(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	items := splitList(lines[len(lines)-1])
	if len(items) == 0 {
		return ""
	}
	return items[len(items)-1]
}

// parseForwarded parses the value of Forwarded (RFC 7239 §4):
//
//	Forwarded   = 1#forwarded-element
//	forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
//	forwarded-pair = token "=" value
//	value       = token / quoted-string
//
// into one map per element, of the parameters by their lower-case name
// (§4: names are case-insensitive), each value unquoted. A quoted string
// may hold commas and semicolons ("[2001:db8::1]:4711" holds colons), so
// the value is scanned, not split.
func parseForwarded(value string) []map[string]string {
	var elements []map[string]string
	element := map[string]string{}
	var pair strings.Builder
	endPair := func() {
		name, v, ok := strings.Cut(pair.String(), "=")
		if name = strings.ToLower(strings.TrimSpace(name)); ok && name != "" {
			element[name] = strings.TrimSpace(v)
		}
		pair.Reset()
	}
	quoted, escaped := false, false
	for _, c := range value {
		switch {
		case escaped: // quoted-pair (RFC 9110 §5.6.4)
			pair.WriteRune(c)
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == ';':
			endPair()
		case !quoted && c == ',':
			endPair()
			elements = append(elements, element)
			element = map[string]string{}
		case !quoted && (c == ' ' || c == '\t'):
			// optional whitespace around elements and pairs
		default:
			pair.WriteRune(c)
		}
	}
	endPair()
	return append(elements, element)
}

// isHostPort reports whether h is a host with an optional port, as a Host
// header carries it: "example.com", "example.com:8443", "[::1]:8443". A
// proxy's header that is anything else (a path, a user, spaces) is
// ignored, and the request keeps its own Host.
func isHostPort(h string) bool {
	u, err := url.Parse("http://" + h)
	return err == nil && u.Host == h && u.User == nil && u.Path == "" &&
		u.RawQuery == "" && u.Fragment == "" && !strings.ContainsAny(h, " \t")
}

// A peer is the client of a request, as the log names it: its address,
// and, for a request that came through a trusted proxy, the proxy's own
// address (the TCP peer), since a proxy's word is all the client's
// address rests on. A connection keeps its peer for its last line.
type peer struct{ remote, proxy string }

// peerOf names the client of r, whose public view is pub (publicRequest).
func peerOf(r, pub *http.Request) peer {
	if pub.RemoteAddr == r.RemoteAddr {
		return peer{remote: r.RemoteAddr}
	}
	return peer{remote: pub.RemoteAddr, proxy: r.RemoteAddr}
}

// attrs returns the peer's attributes for a log line, followed by more.
func (p peer) attrs(more ...any) []any {
	attrs := make([]any, 0, 4+len(more))
	attrs = append(attrs, "remote", p.remote)
	if p.proxy != "" {
		attrs = append(attrs, "proxy", p.proxy)
	}
	return append(attrs, more...)
}

// guardHosts wraps mux so that every route has the Host guard of the
// WebSocket endpoints (Options.Hosts, CheckHost in ws.go): a request whose
// public Host is not an allowed one gets the same 403 with its reason,
// whatever it asks for, as webpack-dev-server's and Vite's allowed-hosts
// checks do. Without it, a page of a rebound name (DNS rebinding) could
// not open the WebSocket, but could still read every other route. The
// WebSocket endpoints, named by their patterns, check in Upgrade, which
// logs and traces the refusal as a refused handshake. The route is looked
// up only for a Host refused here, so that an allowed request is routed
// once, by mux.
func (s *server) guardHosts(mux *http.ServeMux, websockets ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pub := s.publicRequest(r)
		if refusal := CheckHost(pub, s.opts.Hosts); refusal != nil {
			if _, pattern := mux.Handler(r); !slices.Contains(websockets, pattern) {
				Refuse(w, refusal)
				s.log.Info("request refused", peerOf(r, pub).attrs("path", r.URL.Path, "err", refusal)...)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// defaultPort is the port a URL of scheme names when it names none (RFC
// 6455 §3 for ws and wss, RFC 9110 §4.2 for http and https).
func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "https", "wss":
		return "443"
	}
	return "80"
}
