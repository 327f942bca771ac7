package main

// Behind a reverse proxy (proxy.go): the forwarding headers are believed
// from a trusted proxy, and only from one; and every route has the Host
// guard. nginx_test.go runs the same through a real nginx.

import (
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// startProxiedApp starts the application as main builds it on a loopback
// port, with -trusted-proxies set to trusted, and the Host guard for
// loopback unless anyHost (as on a public address without -hosts: then
// only the origin check stands between a foreign page and the server).
// The tests connect from 127.0.0.1: trusting it makes the test a proxy;
// trusting 192.0.2.1 (a documentation address) makes it a client that is
// not one.
func startProxiedApp(t *testing.T, trusted string, anyHost bool) *testApp {
	t.Helper()
	proxies, err := parseProxies(splitList(trusted))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	logs := newLogCapture()
	var opts Options
	if !anyHost {
		opts.Hosts = allowedHosts(srv.Listener.Addr(), nil)
	}
	s := newServer(slog.New(slog.NewJSONHandler(logs, nil)), opts)
	s.proxies = proxies
	srv.Config = s.httpServer(testTimeout)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	stopAtEnd(t, srv, s)
	return &testApp{Server: srv, s: s, logs: logs}
}

const (
	asProxy     = "127.0.0.1,::1" // the test's own address is trusted
	asNotProxy  = "192.0.2.1"     // it is not
	nginxOrigin = "Origin: https://localhost:8443"
)

// nginxHeaders are what deploy/nginx.conf sends for a page of
// https://localhost:8443: Host $host drops the port, and the forwarding
// headers say what the browser asked for.
var nginxHeaders = []string{
	"X-Forwarded-Host: localhost:8443",
	"X-Forwarded-Proto: https",
	"X-Forwarded-For: 127.0.0.1",
}

// TestTrustedProxies is the origin check (§10.2, S-15) and the Host guard
// (§4.2.1 step 2) behind a reverse proxy that ends TLS on
// https://localhost:8443 and sends "Host: localhost" (nginx's $host). From
// a trusted proxy, the public host and scheme of Forwarded (RFC 7239) or
// X-Forwarded-Host and -Proto are what both checks judge; from any other
// peer those headers change nothing, so a client cannot spoof them.
func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		host    string // "SELF" is the server's own host:port
		extra   []string
		status  int
		anyHost bool // no Host guard: the origin check alone
	}{
		{"nginx's $host, X-Forwarded-Host and -Proto", asProxy, "localhost", append([]string{nginxOrigin}, nginxHeaders...), http.StatusSwitchingProtocols, false},
		{"nginx's $host, not a trusted proxy", asNotProxy, "localhost", append([]string{nginxOrigin}, nginxHeaders...), http.StatusForbidden, false},
		{"nginx's $host, no forwarding headers", asProxy, "localhost", []string{nginxOrigin}, http.StatusForbidden, false},
		{"Forwarded (RFC 7239)", asProxy, "localhost", []string{nginxOrigin, `Forwarded: for="[2001:db8::1]:4711";host="localhost:8443";proto=https`}, http.StatusSwitchingProtocols, false},
		{"Forwarded, not a trusted proxy", asNotProxy, "localhost", []string{nginxOrigin, `Forwarded: for=192.0.2.60;host="localhost:8443";proto=https`}, http.StatusForbidden, false},
		{"Forwarded wins over X-Forwarded-Host", asProxy, "localhost", []string{nginxOrigin, "Forwarded: host=localhost:8443;proto=https", "X-Forwarded-Host: evil.example"}, http.StatusSwitchingProtocols, false},
		{"Forwarded's host of the proxy the client talked to", asProxy, "localhost", []string{nginxOrigin, "Forwarded: for=192.0.2.60;host=localhost:8443;proto=https, for=127.0.0.1;host=localhost:9000;proto=http"}, http.StatusSwitchingProtocols, false},
		{"Forwarded's host written by the client is ignored", asProxy, "localhost", []string{nginxOrigin, "Forwarded: for=192.0.2.60;host=localhost:8443;proto=https, for=192.0.2.61;host=localhost:9000;proto=http"}, http.StatusForbidden, false},
		{"the default port of https", asProxy, "localhost", []string{"Origin: https://localhost", "X-Forwarded-Host: localhost", "X-Forwarded-Proto: https"}, http.StatusSwitchingProtocols, false},
		{"proto only, Host without a port", asProxy, "localhost", []string{"Origin: https://localhost", "X-Forwarded-Proto: https"}, http.StatusSwitchingProtocols, false},
		{"a page of http:// where the client used https://", asProxy, "localhost", []string{"Origin: http://localhost", "X-Forwarded-Host: localhost", "X-Forwarded-Proto: https"}, http.StatusForbidden, false},
		{"a page of http://, same host and port", asProxy, "localhost", []string{"Origin: http://localhost:443", "X-Forwarded-Host: localhost:443", "X-Forwarded-Proto: https"}, http.StatusSwitchingProtocols, false},
		{"the last X-Forwarded-Host, set by the proxy", asProxy, "localhost", []string{nginxOrigin, "X-Forwarded-Host: evil.example, localhost:8443", "X-Forwarded-Proto: https"}, http.StatusSwitchingProtocols, false},
		{"a forwarded host that is not a host", asProxy, "localhost", []string{nginxOrigin, "X-Forwarded-Host: localhost:8443/x", "X-Forwarded-Proto: https"}, http.StatusForbidden, false},

		// A spoofed X-Forwarded-Host from a client that is not a proxy
		// changes nothing: a foreign page still fails the origin check,
		// even with no Host guard, and a rebound name the Host guard.
		{"spoofed X-Forwarded-Host, foreign Origin", asNotProxy, "SELF", []string{"Origin: http://evil.example", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: http"}, http.StatusForbidden, true},
		{"spoofed Forwarded, foreign Origin", asNotProxy, "SELF", []string{"Origin: http://evil.example", "Forwarded: host=evil.example;proto=http"}, http.StatusForbidden, true},
		{"the same from a trusted proxy", asProxy, "SELF", []string{"Origin: http://evil.example", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: http"}, http.StatusSwitchingProtocols, true},
		{"spoofed X-Forwarded-Host, rebound Host", asNotProxy, "evil.example", []string{"Origin: http://evil.example", "X-Forwarded-Host: localhost"}, http.StatusForbidden, false},
		// A trusted proxy's word is checked as a Host is: a rebound name
		// it forwards is still refused.
		{"a trusted proxy forwards a rebound name", asProxy, "localhost", []string{"Origin: https://evil.example", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https"}, http.StatusForbidden, false},
		{"a trusted proxy forwards a rebound name in Forwarded", asProxy, "localhost", []string{"Origin: https://evil.example", "Forwarded: host=evil.example;proto=https"}, http.StatusForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := startProxiedApp(t, tt.trusted, tt.anyHost)
			host := strings.Replace(tt.host, "SELF", app.Listener.Addr().String(), 1)
			c := connect(t, app.Server, handshakeRequest(host, "/websocket", tt.extra...))
			if c.resp.StatusCode != tt.status {
				body, _ := io.ReadAll(c.resp.Body)
				t.Fatalf("got %s (%s), want %d", c.resp.Status, strings.TrimSpace(string(body)), tt.status)
			}
			if tt.status == http.StatusSwitchingProtocols {
				c.bye()
			}
		})
	}
}

// TestTrustedProxiesLog: the log names the client as the trusted proxy
// says, and the proxy beside it; a client that is not a proxy is named by
// its own address, whatever X-Forwarded-For says.
func TestTrustedProxiesLog(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		extra   []string
		remote  string // "PEER" is the test's own address
		proxy   string // "" if the entry has no proxy
	}{
		{"X-Forwarded-For", asProxy, []string{"X-Forwarded-For: 203.0.113.9"}, "203.0.113.9", "PEER"},
		{"X-Forwarded-For, a spoofed entry before the client", asProxy, []string{"X-Forwarded-For: 198.51.100.7, 203.0.113.9"}, "203.0.113.9", "PEER"},
		{"X-Forwarded-For, past a trusted proxy", asProxy + ",10.0.0.0/8", []string{"X-Forwarded-For: 198.51.100.7, 203.0.113.9, 10.1.2.3"}, "203.0.113.9", "PEER"},
		{"Forwarded", asProxy, []string{`Forwarded: for="[2001:db8::1]:4711"`}, "[2001:db8::1]:4711", "PEER"},
		{"X-Forwarded-For, not a trusted proxy", asNotProxy, []string{"X-Forwarded-For: 203.0.113.9"}, "PEER", ""},
		{"Forwarded, not a trusted proxy", asNotProxy, []string{"Forwarded: for=203.0.113.9"}, "PEER", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := startProxiedApp(t, tt.trusted, false)
			c := dial(t, app.Server, "/echo", tt.extra...)
			peer := c.nc.LocalAddr().String()
			line := app.logs.waitFor(t, `"websocket open"`, func(line string) bool { return strings.Contains(line, `"websocket open"`) })
			var e logEntry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"level": "INFO", "msg": "websocket open", "path": "/echo",
				"remote": strings.Replace(tt.remote, "PEER", peer, 1)}
			if tt.proxy != "" {
				want["proxy"] = peer
			}
			checkEntry(t, e, want)
			c.bye()
		})
	}
}

// TestGuardEveryRoute: the page, and any other path, answers a foreign
// Host with the same 403 and reason as the WebSocket endpoints do (the
// DNS-rebinding guard, like Vite's allowed-hosts check), so that a page
// of a rebound name reads nothing from this server. Through a trusted
// proxy, the public host is the one judged.
func TestGuardEveryRoute(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		request string // "SELF" is the server's own host:port
		status  int
	}{
		{"the page", asNotProxy, "GET / HTTP/1.1\r\nHost: SELF\r\n\r\n", http.StatusOK},
		{"the page, a foreign Host", asNotProxy, "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", http.StatusForbidden},
		{"HEAD of the page, a foreign Host", asNotProxy, "HEAD / HTTP/1.1\r\nHost: evil.example\r\n\r\n", http.StatusForbidden},
		{"an unknown path, a foreign Host", asNotProxy, "GET /nope HTTP/1.1\r\nHost: evil.example\r\n\r\n", http.StatusForbidden},
		{"POST to the page, a foreign Host", asNotProxy, "POST / HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\n\r\n", http.StatusForbidden},
		{"the page, spoofed X-Forwarded-Host", asNotProxy, "GET / HTTP/1.1\r\nHost: SELF\r\nX-Forwarded-Host: evil.example\r\n\r\n", http.StatusOK},
		{"the page through a proxy", asProxy, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Host: localhost:8443\r\nX-Forwarded-Proto: https\r\n\r\n", http.StatusOK},
		{"the page through a proxy, a foreign Host", asProxy, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\n\r\n", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := startProxiedApp(t, tt.trusted, false)
			c := connect(t, app.Server, strings.Replace(tt.request, "SELF", app.Listener.Addr().String(), 1))
			var body []byte
			if !strings.HasPrefix(tt.request, "HEAD") { // ReadResponse would wait for a HEAD's body
				body, _ = io.ReadAll(c.resp.Body)
			}
			if c.resp.StatusCode != tt.status {
				t.Fatalf("got %s (%q), want %d", c.resp.Status, body, tt.status)
			}
			if tt.status != http.StatusForbidden {
				return
			}
			if ct := c.resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q, want plain text", ct)
			}
			if !strings.HasPrefix(tt.request, "HEAD") && !strings.HasPrefix(string(body), `host "evil.example`) {
				t.Errorf("body %q, want the WebSocket's reason", body)
			}
			app.logs.waitFor(t, `"request refused"`, func(line string) bool { return strings.Contains(line, `"request refused"`) })
		})
	}

	// The same refusal as the WebSocket's, word for word.
	app := startProxiedApp(t, asNotProxy, false)
	ws := connect(t, app.Server, handshakeRequest("evil.example", "/websocket"))
	wsBody, _ := io.ReadAll(ws.resp.Body)
	page := connect(t, app.Server, "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n")
	pageBody, _ := io.ReadAll(page.resp.Body)
	if ws.resp.StatusCode != page.resp.StatusCode || string(wsBody) != string(pageBody) {
		t.Errorf("the WebSocket got %s %q, the page %s %q: want the same", ws.resp.Status, wsBody, page.resp.Status, pageBody)
	}
}

// TestParseForwarded parses the examples of RFC 7239 §4 and §7.
func TestParseForwarded(t *testing.T) {
	tests := []struct {
		value string
		want  []map[string]string
	}{
		{`for="_gazonk"`, []map[string]string{{"for": "_gazonk"}}},
		{`For="[2001:db8:cafe::17]:4711"`, []map[string]string{{"for": "[2001:db8:cafe::17]:4711"}}},
		{`for=192.0.2.60;proto=http;by=203.0.113.43`, []map[string]string{{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}}},
		{`for=192.0.2.43, for=198.51.100.17`, []map[string]string{{"for": "192.0.2.43"}, {"for": "198.51.100.17"}}},
		{`for=192.0.2.43,for="[2001:db8:cafe::17]";host="a,b;c"`, []map[string]string{{"for": "192.0.2.43"}, {"for": "[2001:db8:cafe::17]", "host": "a,b;c"}}},
		{`host="x\"y"`, []map[string]string{{"host": `x"y`}}},
		{`;;for=a;`, []map[string]string{{"for": "a"}}},
	}
	for _, tt := range tests {
		if got := parseForwarded(tt.value); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseForwarded(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

// TestParseProxies is the -trusted-proxies flag: addresses and prefixes,
// and the addresses it then trusts, in the forms RemoteAddr and for= use.
func TestParseProxies(t *testing.T) {
	proxies, err := parseProxies([]string{"127.0.0.1", "::1", "10.0.0.0/8", "::ffff:192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}
	if !reflect.DeepEqual(proxies, want) {
		t.Errorf("parseProxies = %v, want %v", proxies, want)
	}
	for addr, trusted := range map[string]bool{
		"127.0.0.1:43210": true, "127.0.0.1": true, "[::1]:43210": true, "[::1]": true, "::1": true,
		"10.200.0.1": true, "[::ffff:10.0.0.1]:80": true, "192.0.2.1": true,
		"127.0.0.2:43210": false, "11.0.0.1": false, "unknown": false, "_hidden": false, "": false,
	} {
		if got := isTrusted(proxies, addr); got != trusted {
			t.Errorf("isTrusted(%q) = %v, want %v", addr, got, trusted)
		}
	}
	for _, bad := range []string{"localhost", "10.0.0.0/33", "127.0.0.1:80"} {
		if _, err := parseProxies([]string{bad}); err == nil {
			t.Errorf("parseProxies(%q): no error", bad)
		}
	}
}
