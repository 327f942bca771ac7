package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDevCertificate checks what -tls-dev serves: a self-signed leaf for
// the loopback names only, an ECDSA P-256 key, valid for days, not years,
// and a new key at every start.
func TestDevCertificate(t *testing.T) {
	now := time.Now()
	cert, err := devCertificate(now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}

	t.Run("names: localhost, 127.0.0.1, ::1", func(t *testing.T) {
		var ips []string
		for _, ip := range leaf.IPAddresses {
			ips = append(ips, ip.String())
		}
		if !slices.Equal(leaf.DNSNames, []string{"localhost"}) || !slices.Equal(ips, []string{"127.0.0.1", "::1"}) {
			t.Errorf("names %q and IP addresses %q, want localhost, and 127.0.0.1 and ::1", leaf.DNSNames, ips)
		}
	})
	t.Run("key: ECDSA P-256", func(t *testing.T) {
		pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Fatalf("public key %T, want an ECDSA P-256 key", leaf.PublicKey)
		}
		priv, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
		if !ok || !priv.PublicKey.Equal(pub) {
			t.Errorf("private key %T is not the certificate's", cert.PrivateKey)
		}
	})
	t.Run("valid for days, not years", func(t *testing.T) {
		if leaf.NotBefore.After(now) {
			t.Errorf("valid from %v, after it was made (%v)", leaf.NotBefore, now)
		}
		if days := leaf.NotAfter.Sub(now).Hours() / 24; days < 1 || days > 30 {
			t.Errorf("valid for %.1f days from now, want days, not years", days)
		}
	})
	// Trusted as a root, as -ca would, it verifies for each of its names,
	// for none other, and for server authentication; it is a leaf, which
	// can vouch for no other certificate.
	t.Run("self-signed, for servers, not a CA", func(t *testing.T) {
		roots := x509.NewCertPool()
		roots.AddCert(leaf)
		for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now}); err != nil {
				t.Errorf("for %s: %v", name, err)
			}
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.com", CurrentTime: now}); err == nil {
			t.Error("it verifies for example.com")
		}
		if err := leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil || !bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
			t.Errorf("not self-signed: issuer %s, signature %v", leaf.Issuer, err)
		}
		if leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
			t.Errorf("IsCA %v, extended key usage %v: want a leaf for server authentication", leaf.IsCA, leaf.ExtKeyUsage)
		}
	})
	t.Run("a new key at every start", func(t *testing.T) {
		again, err := devCertificate(now)
		if err != nil {
			t.Fatal(err)
		}
		if again.PrivateKey.(*ecdsa.PrivateKey).Equal(cert.PrivateKey) {
			t.Error("two certificates share a key")
		}
	})
}

// TestFingerprints checks the two forms the log shows and -pin takes
// against their definitions, computed here another way: the SHA-256 of
// the certificate as hex pairs joined by colons (openssl x509
// -fingerprint -sha256), and the base64 SHA-256 of the SPKI as the public
// key marshals (Chromium's --ignore-certificate-errors-spki-list).
func TestFingerprints(t *testing.T) {
	cert, err := devCertificate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(cert.PrivateKey.(*ecdsa.PrivateKey).Public())
	if err != nil {
		t.Fatal(err)
	}
	spkiSum := sha256.Sum256(spki)
	certSum := sha256.Sum256(cert.Certificate[0])
	wantSPKI := base64.StdEncoding.EncodeToString(spkiSum[:])
	wantCert := strings.ToUpper(regexp.MustCompile(`..`).ReplaceAllString(hex.EncodeToString(certSum[:]), "$0:"))
	wantCert = strings.TrimSuffix(wantCert, ":")
	if got := spkiFingerprint(cert.Leaf); got != wantSPKI {
		t.Errorf("spkiFingerprint = %s, want %s", got, wantSPKI)
	}
	if got := certFingerprint(cert.Leaf); got != wantCert {
		t.Errorf("certFingerprint = %s, want %s", got, wantCert)
	}

	t.Run("-pin takes either form", func(t *testing.T) {
		for _, pin := range []string{wantSPKI, wantCert, strings.ToLower(strings.ReplaceAll(wantCert, ":", ""))} {
			pins, err := parsePins(pin)
			if err != nil {
				t.Errorf("parsePins(%q): %v", pin, err)
				continue
			}
			if err := pins.verify(tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}); err != nil {
				t.Errorf("pin %s: %v", pin, err)
			}
		}
	})
	t.Run("-pin refuses what is not a SHA-256", func(t *testing.T) {
		for _, pin := range []string{"", " , ", "zz", wantSPKI[:40], wantCert[:60], base64.StdEncoding.EncodeToString(make([]byte, 20))} {
			if _, err := parsePins(pin); err == nil {
				t.Errorf("parsePins(%q) accepts it", pin)
			}
		}
	})
}

// TestPinVerify checks VerifyConnection for -pin: it accepts a server
// whose leaf matches a pin, and only its leaf.
func TestPinVerify(t *testing.T) {
	pki := newTestPKI(t, "localhost")
	leafPin := spkiFingerprint(pki.leaf)
	caPin := spkiFingerprint(pki.ca)
	chain := tls.ConnectionState{PeerCertificates: []*x509.Certificate{pki.leaf, pki.ca}}
	for _, tt := range []struct {
		name string
		pins string
		ok   bool
	}{
		{"the leaf's SPKI", leafPin, true},
		{"the leaf's certificate", certFingerprint(pki.leaf), true},
		{"one of several", caPin + "," + leafPin, true},
		{"the CA's, not the leaf's", caPin, false},
		{"another key", base64.StdEncoding.EncodeToString(make([]byte, 32)), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pins, err := parsePins(tt.pins)
			if err != nil {
				t.Fatal(err)
			}
			err = pins.verify(chain)
			if tt.ok != (err == nil) {
				t.Fatalf("verify: %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), leafPin) {
				t.Errorf("the error %q does not say which fingerprint the server has", err)
			}
		})
	}
	pins, _ := parsePins(leafPin)
	if err := pins.verify(tls.ConnectionState{}); err == nil {
		t.Error("verify accepts a server without a certificate")
	}
}

// TestClientTrust dials a TLS server whose certificate a test CA signed,
// for localhost only, with the configuration -ca and -pin make: a CA
// trusts the server under the certificate's own name, a pin alone trusts
// exactly the pinned key under any name, and both need both. Without
// either, the system's roots do not know the server.
func TestClientTrust(t *testing.T) {
	pki := newTestPKI(t, "localhost")
	srv := newServerWithCertificate(t, pki.leafCert)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	byName := "wss://localhost:" + port + "/echo"
	byIP := "wss://127.0.0.1:" + port + "/echo" // not a name of the certificate
	other := newTestPKI(t, "localhost")
	right, wrong := spkiFingerprint(pki.leaf), spkiFingerprint(other.leaf)
	for _, tt := range []struct {
		name, url string
		flags     clientTLSFlags
		fails     string // "" if it connects
	}{
		{"neither: the system's roots", byName, clientTLSFlags{}, "unknown authority"},
		{"-ca", byName, clientTLSFlags{caFile: pki.caFile}, ""},
		{"-ca, another CA", byName, clientTLSFlags{caFile: other.caFile}, "unknown authority"},
		{"-ca, a name not in the certificate", byIP, clientTLSFlags{caFile: pki.caFile}, "certificate for 127.0.0.1"},
		{"-pin", byName, clientTLSFlags{pins: right}, ""},
		{"-pin, any name", byIP, clientTLSFlags{pins: right}, ""},
		{"-pin, another key", byName, clientTLSFlags{pins: wrong}, "matches no -pin"},
		{"-ca and -pin", byName, clientTLSFlags{caFile: pki.caFile, pins: right}, ""},
		{"-ca and -pin, another key", byName, clientTLSFlags{caFile: pki.caFile, pins: wrong}, "matches no -pin"},
		{"-ca and -pin, a name not in the certificate", byIP, clientTLSFlags{caFile: pki.caFile, pins: right}, "certificate for 127.0.0.1"},
		{"-pin, another CA's", byName, clientTLSFlags{caFile: other.caFile, pins: right}, "unknown authority"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			config, err := tt.flags.config()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, err := Dial(ctx, tt.url, &DialOptions{TLSConfig: config})
			if tt.fails == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.Close(StatusNormal, "")
				return
			}
			if err == nil {
				c.Close(StatusNormal, "")
				t.Fatalf("Dial connects, want it to fail with %q", tt.fails)
			}
			if !strings.Contains(err.Error(), tt.fails) {
				t.Errorf("Dial: %v, want %q", err, tt.fails)
			}
		})
	}
}

// TestTLSBinary runs the built binary over TLS as a user would: -tls-dev,
// and -tls-cert with -tls-key, the page over HTTP/2 and HTTP/1.1 and the
// WebSockets over HTTP/1.1 on the same port (RFC 6455 §4.2.2 step 1 and
// §10.6, S-14), and -connect wss:// trusting the server by -pin or -ca.
func TestTLSBinary(t *testing.T) {
	bin := buildBinary(t)

	t.Run("S-14/-tls-dev", func(t *testing.T) {
		p := startBinary(t, bin, "-addr", "127.0.0.1:0", "-tls-dev")
		if !strings.HasPrefix(p.url, "https://") {
			t.Errorf("the page's URL is %s, want https://", p.url)
		}
		logged := loggedFingerprints(t, p)
		served := servedCertificate(t, p.addr)
		_, port, _ := net.SplitHostPort(p.addr)

		t.Run("the fingerprints logged are the served certificate's", func(t *testing.T) {
			certSum := sha256.Sum256(served.Raw)
			spkiSum := sha256.Sum256(served.RawSubjectPublicKeyInfo)
			if got, want := logged.spki, base64.StdEncoding.EncodeToString(spkiSum[:]); got != want {
				t.Errorf("logged spki_sha256 %s, the server's SPKI has %s", got, want)
			}
			if got, want := strings.ReplaceAll(logged.cert, ":", ""), strings.ToUpper(hex.EncodeToString(certSum[:])); got != want {
				t.Errorf("logged cert_sha256 %s, the server's certificate has %s", got, want)
			}
		})
		roots := x509.NewCertPool()
		roots.AddCert(served)
		t.Run("ALPN: GET / over HTTP/2", func(t *testing.T) {
			resp := getPage(t, p.url, &tls.Config{RootCAs: roots}, true)
			if resp.ProtoMajor != 2 {
				t.Errorf("the page came over %s, want HTTP/2.0 (ALPN h2)", resp.Proto)
			}
		})
		t.Run("ALPN: GET / over HTTP/1.1", func(t *testing.T) {
			resp := getPage(t, p.url, &tls.Config{RootCAs: roots}, false)
			if resp.ProtoMajor != 1 {
				t.Errorf("the page came over %s, want HTTP/1.1", resp.Proto)
			}
		})
		t.Run("ALPN: wss:// /echo over http/1.1", func(t *testing.T) {
			c := dialOverTLS(t, p.addr, &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"http/1.1"}},
				handshakeRequest(p.addr, "/echo"), "http/1.1")
			if c.resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake: %s, want 101", c.resp.Status)
			}
			c.send(text("over TLS"), binaryFrame([]byte{0, 1, 2}))
			c.expect(text("over TLS"), binaryFrame([]byte{0, 1, 2}))
			c.closeHandshake()
		})
		// The page at https://localhost:PORT/ sends that Origin, and Host
		// localhost:PORT: its own. The other rules are those of cleartext.
		for _, tt := range []struct {
			name, host, origin string
			status             int
		}{
			{"S-15/the page's own origin", "localhost:" + port, "https://localhost:" + port, http.StatusSwitchingProtocols},
			{"S-15/a foreign origin", "localhost:" + port, "https://evil.example", http.StatusForbidden},
			{"§4.2.1 step 2/a foreign host (DNS rebinding)", "evil.example:" + port, "https://evil.example:" + port, http.StatusForbidden},
		} {
			t.Run(tt.name, func(t *testing.T) {
				c := dialOverTLS(t, p.addr, &tls.Config{RootCAs: roots, ServerName: "localhost"},
					handshakeRequest(tt.host, "/websocket", "Origin: "+tt.origin), "")
				if c.resp.StatusCode != tt.status {
					t.Errorf("handshake: %s, want %d", c.resp.Status, tt.status)
				}
			})
		}

		url := "wss://localhost:" + port + "/echo"
		t.Run("-connect -pin, the SPKI", func(t *testing.T) {
			connectAndEcho(t, bin, url, "-pin", logged.spki)
		})
		t.Run("-connect -pin, the certificate", func(t *testing.T) {
			connectAndEcho(t, bin, "wss://127.0.0.1:"+port+"/echo", "-pin", logged.cert)
		})
		t.Run("-connect -pin, another key", func(t *testing.T) {
			stderr := connectFails(t, bin, url, "-pin", base64.StdEncoding.EncodeToString(make([]byte, 32)))
			if want := "matches no -pin: its spki_sha256 is " + logged.spki; !strings.Contains(stderr, want) {
				t.Errorf("stderr %q does not say %q", stderr, want)
			}
		})
		t.Run("-connect without -pin or -ca", func(t *testing.T) {
			stderr := connectFails(t, bin, url)
			for _, want := range []string{"certificate signed by unknown authority", "-ca", "-pin"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not say %q", stderr, want)
				}
			}
		})
	})

	t.Run("S-14/-tls-cert and -tls-key", func(t *testing.T) {
		pki := newTestPKI(t, "localhost")
		p := startBinary(t, bin, "-addr", "127.0.0.1:0", "-tls-cert", pki.leafFile, "-tls-key", pki.keyFile)
		if !strings.HasPrefix(p.url, "https://") {
			t.Errorf("the page's URL is %s, want https://", p.url)
		}
		if served := servedCertificate(t, p.addr); !served.Equal(pki.leaf) {
			t.Errorf("the server serves %s, not the certificate of -tls-cert", served.Subject)
		}
		if logged := loggedFingerprints(t, p); logged.spki != spkiFingerprint(pki.leaf) {
			t.Errorf("logged spki_sha256 %s, want the file's, %s", logged.spki, spkiFingerprint(pki.leaf))
		}
		_, port, _ := net.SplitHostPort(p.addr)
		t.Run("-connect -ca", func(t *testing.T) {
			connectAndEcho(t, bin, "wss://localhost:"+port+"/echo", "-ca", pki.caFile)
		})
		t.Run("-connect -ca, a name not in the certificate", func(t *testing.T) {
			stderr := connectFails(t, bin, "wss://127.0.0.1:"+port+"/echo", "-ca", pki.caFile)
			if want := "certificate for 127.0.0.1"; !strings.Contains(stderr, want) {
				t.Errorf("stderr %q does not say %q", stderr, want)
			}
		})
	})

	t.Run("bad TLS flags", func(t *testing.T) {
		pki := newTestPKI(t, "localhost")
		empty := filepath.Join(t.TempDir(), "empty.pem")
		if err := os.WriteFile(empty, []byte("no certificate here\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			args []string
			says string
		}{
			{"-tls-cert alone", []string{"-tls-cert", pki.leafFile}, "-tls-cert and -tls-key go together"},
			{"-tls-key alone", []string{"-tls-key", pki.keyFile}, "-tls-cert and -tls-key go together"},
			{"-tls-dev and files", []string{"-tls-dev", "-tls-cert", pki.leafFile, "-tls-key", pki.keyFile}, "not both"},
			{"a missing file", []string{"-tls-cert", pki.leafFile + ".nope", "-tls-key", pki.keyFile}, "no such file"},
			{"a key that is not the certificate's", []string{"-tls-cert", pki.leafFile, "-tls-key", pki.caKeyFile}, "private key does not match public key"},
			{"-pin not a fingerprint", []string{"-connect", "wss://localhost:1/", "-pin", "zz"}, "is not a SHA-256 fingerprint"},
			{"-ca missing", []string{"-connect", "wss://localhost:1/", "-ca", empty + ".nope"}, "no such file"},
			{"-ca without certificates", []string{"-connect", "wss://localhost:1/", "-ca", empty}, "holds no PEM certificate"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				out, err := exec.CommandContext(ctx, bin, append([]string{"-addr", "127.0.0.1:0"}, tt.args...)...).CombinedOutput()
				if exitCode(err) != 2 {
					t.Errorf("exit: %v, want exit status 2", err)
				}
				if !strings.Contains(string(out), tt.says) || strings.Contains(string(out), "listening") {
					t.Errorf("the output says\n%s\nwant %q, and no \"listening\"", out, tt.says)
				}
			})
		}
	})
}

// fingerprints are those the server logged for its certificate.
type fingerprints struct{ cert, spki string }

func loggedFingerprints(t *testing.T, p *process) fingerprints {
	t.Helper()
	line := p.stderr.waitFor(t, `"tls certificate" line`, func(line string) bool { return strings.Contains(line, `msg="tls certificate"`) })
	m := regexp.MustCompile(` cert_sha256=(\S+) spki_sha256="?([^"\s]+)"?`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("the line %q has no fingerprints", line)
	}
	return fingerprints{cert: m[1], spki: m[2]}
}

// servedCertificate is the leaf certificate the server at addr sends. The
// test looks at it without trusting it: it is what the test checks.
func servedCertificate(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	return nc.ConnectionState().PeerCertificates[0]
}

// getPage gets the page at url over TLS, offering HTTP/2 or not, and
// checks that it is the page.
func getPage(t *testing.T, url string, config *tls.Config, http2 bool) *http.Response {
	t.Helper()
	transport := &http.Transport{TLSClientConfig: config, ForceAttemptHTTP2: http2}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: testTimeout}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, page) {
		t.Errorf("GET %s: %s and %d bytes, want 200 and the page", url, resp.Status, len(body))
	}
	return resp
}

// dialOverTLS opens a TLS connection to addr, checks the protocol ALPN
// chose (if alpn is not ""), and sends request over it.
func dialOverTLS(t *testing.T, addr string, config *tls.Config, request, alpn string) *testClient {
	t.Helper()
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: testTimeout}, "tcp", addr, config)
	if err != nil {
		t.Fatal(err)
	}
	if got := nc.ConnectionState().NegotiatedProtocol; alpn != "" && got != alpn {
		nc.Close()
		t.Fatalf("ALPN chose %q, want %q", got, alpn)
	}
	return handshakeOver(t, nc, request)
}

// connectAndEcho runs -connect url with args, sends a line, and expects
// it back and exit 0.
func connectAndEcho(t *testing.T, bin, url string, args ...string) {
	t.Helper()
	p := startClient(t, bin, append([]string{"-connect", url}, args...)...)
	p.input("hello over TLS\n")
	if err := p.wait(t); err != nil {
		t.Errorf("exit: %v, want 0; stderr:\n%s", err, p.stderr)
	}
	if got := p.stdout.String(); got != "hello over TLS\n" {
		t.Errorf("stdout %q, want the echo", got)
	}
}

// connectFails runs -connect url with args, expects exit 1 and nothing on
// stdout, and returns stderr.
func connectFails(t *testing.T, bin, url string, args ...string) string {
	t.Helper()
	p := startClient(t, bin, append([]string{"-connect", url}, args...)...)
	p.input("")
	if err := p.wait(t); exitCode(err) != 1 {
		t.Errorf("exit: %v, want exit status 1", err)
	}
	if p.stdout.String() != "" {
		t.Errorf("stdout %q, want nothing", p.stdout)
	}
	return p.stderr.String()
}

// newServerWithCertificate is the application on a loopback port over
// TLS, serving cert: the server side for TestClientTrust.
func newServerWithCertificate(t testing.TB, cert tls.Certificate) *httptest.Server {
	t.Helper()
	s := newServer(slog.New(slog.DiscardHandler), Options{})
	srv := httptest.NewUnstartedServer(s.routes())
	// The failures are the point of the test, not news.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	stopAtEnd(t, srv, s)
	return srv
}

// TestBrowserTLS loads the page from the built binary with -tls-dev in
// Chromium, which trusts exactly that certificate by its logged SPKI
// fingerprint (--ignore-certificate-errors-spki-list, as the README
// says), not by ignoring every certificate error. The page comes over
// HTTP/2 (ALPN h2), from its own origin https://localhost:PORT (S-14,
// S-15). Its WebSocket goes over HTTP/2 too, as an extended CONNECT on a
// stream of the page's own connection (RFC 8441, H-05): the server sees
// CONNECT over HTTP/2.0, the page says so, Send and the 200-byte message
// get their answers, the frame inspector draws the latter's 16-bit
// length, a second socket shares the connection, and closing the page
// closes the socket with 1000. Over HTTP/2 the binary compresses as it
// does by default (RFC 7692): the page says permessage-deflate was
// agreed, draws the 200-byte message compressed, its 16-bit length the
// compressed one, and the server's trace shows the short reply sent
// uncompressed (under -deflate-threshold), the long one compressed. With
// -http2=false -deflate=false the same page and socket run over
// HTTP/1.1, uncompressed: the 16-bit length says 200.
func TestBrowserTLS(t *testing.T) {
	chromium := findBrowser(t)
	bin := buildBinary(t)
	// The binary must turn RFC 8441 on by itself (main restarts itself
	// with GODEBUG=http2xconnect=1), not inherit it from this test.
	t.Setenv("GODEBUG", "")
	for _, tt := range []struct {
		name, flag, deflate, alpn, request, says, extension string
	}{
		{"H-05/over HTTP/2", "-http2=true", "-deflate=true", "h2", "CONNECT /websocket HTTP/2.0", "over HTTP/2", "permessage-deflate"},
		{"over HTTP/1.1", "-http2=false", "-deflate=false", "http/1.1", "GET /websocket HTTP/1.1", "over HTTP/1.1", "none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startBinary(t, bin, "-addr", "localhost:0", "-tls-dev", "-trace", tt.flag, tt.deflate)
			spki := loggedFingerprints(t, p).spki
			browser := launchBrowser(t, chromium, "--ignore-certificate-errors-spki-list="+spki)
			page := browser.newPage()
			page.navigate(p.url)
			if state := page.eval(untilOpen); state != "open" {
				t.Fatalf("#state reads %q, want %q", state, "open")
			}
			expectExtension(t, page, tt.extension)
			page.click("#send")
			entry := page.evalEntry(1)
			if want := "I have received this message from you : Sent from my browser!\nGlad to be your webserver."; entry.Text != want {
				t.Errorf("first entry reads %q, want %q", entry.Text, want)
			}
			page.click("#send-long")
			long := readDrawnFrame(t, page, 2)
			long.expectMessage(t, `{"output":"This message is 200 bytes long`)
			if tt.extension == "none" {
				long.expect(t, "rsv1", 0, 1, 1, "0")
				long.expect(t, "extended-payload-len", 0, 16, 16, "00c8")
			} else {
				long.expectCompressed(t)
				long.expect(t, "extended-payload-len", 0, 16, 16, fmt.Sprintf("%04x", compressedLength(t, long)))
				expectRepliesCompressed(t, tracedSent(p.stderr.lines()), 512) // -deflate-threshold's default
			}
			if says := page.eval(`document.getElementById("transport").textContent`); !strings.Contains(fmt.Sprint(says), tt.says) {
				t.Errorf("the page says its socket runs %q, want %q", says, tt.says)
			}
			if origin := page.eval("location.origin"); origin != strings.TrimSuffix(p.url, "/") {
				t.Errorf("the page's origin is %v, want %s", origin, strings.TrimSuffix(p.url, "/"))
			}
			request := p.stderr.waitFor(t, "the handshake request", func(line string) bool { return strings.Contains(line, `msg="handshake request"`) })
			if !strings.Contains(request, `request="`+tt.request+`"`) {
				t.Errorf("the server saw %q, want %s", request, tt.request)
			}
			opens := 1
			if tt.alpn == "h2" {
				if !strings.Contains(request, "header.:protocol=websocket") {
					t.Errorf("the server saw %q, without :protocol websocket", request)
				}
				// A second socket: another stream of the same connection,
				// which the server sees from the same address and port.
				second := page.eval(`new Promise((resolve, reject) => {
					const ws = new WebSocket("wss://" + location.host + "/websocket");
					ws.onopen = () => { ws.close(1000); };
					ws.onclose = (e) => resolve(String(e.code));
				})`)
				if second != "1000" {
					t.Errorf("the second socket closed with %v, want 1000", second)
				}
				opens = 2
				var remotes []string
				for _, line := range p.stderr.lines() {
					if strings.Contains(line, `msg="websocket open"`) && strings.Contains(line, "proto=HTTP/2.0") {
						remotes = append(remotes, strings.Fields(line[strings.Index(line, "remote="):])[0])
					}
				}
				if len(remotes) != 2 || remotes[0] != remotes[1] {
					t.Errorf("the sockets came from %q, want two streams of one HTTP/2 connection", remotes)
				}
			}
			page.close()
			p.stderr.waitFor(t, "every socket closed", func(string) bool {
				return strings.Count(p.stderr.String(), `msg="websocket closed"`) == opens
			})
			for _, line := range p.stderr.lines() {
				if strings.Contains(line, `msg="websocket closed"`) && (!strings.Contains(line, "path=/websocket") || !strings.Contains(line, "code=1000")) {
					t.Errorf("the server logged %q, want /websocket closed with 1000", line)
				}
			}

			for _, problem := range browser.problems() {
				t.Errorf("browser: %s", problem)
			}
			want := []string{"GET " + p.url + " " + tt.alpn, "WebSocket wss://" + p.addr + "/websocket"}
			if got := browser.protocols(); len(got) < 2 || !slices.Equal(got[:2], want) {
				t.Errorf("the browser's requests and their protocols: %q, want the page over %s and a wss:// socket", got, tt.alpn)
			}
		})
	}
}

// compressedLength is the payload length a compressed frame's caption
// says, which must be fewer than the 200 bytes sent.
func compressedLength(t *testing.T, f drawnFrame) int {
	t.Helper()
	var n int
	if _, after, ok := strings.Cut(f.Caption, "payload "); ok {
		fmt.Sscanf(after, "%d bytes", &n)
	}
	if n < 126 || n >= 200 {
		t.Errorf("%s: want a compressed payload of 126 to 199 bytes", f.Caption)
	}
	return n
}

// tracedSent is the text frames -trace logged as sent: their RSV bits
// and payload lengths.
func tracedSent(lines []string) []sentFrame {
	var sent []sentFrame
	for _, line := range lines {
		if !strings.Contains(line, "msg=frame ") || !strings.Contains(line, " dir=out ") || !strings.Contains(line, " op=text ") {
			continue
		}
		var f sentFrame
		for _, field := range strings.Fields(line) {
			// The first of each: the payload's text comes later.
			if v, ok := strings.CutPrefix(field, "rsv="); ok && f.RSV == "" {
				f.RSV = v
			} else if v, ok := strings.CutPrefix(field, "len="); ok && f.Len == 0 {
				f.Len, _ = strconv.Atoi(v)
			}
		}
		sent = append(sent, f)
	}
	return sent
}

// protocols lists each request the browser reported with the protocol
// its response came over ("h2", "http/1.1"), and each WebSocket it
// created.
func (b *cdpBrowser) protocols() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var list []string
	for _, e := range b.events {
		var p struct {
			URL      string `json:"url"` // Network.webSocketCreated
			Response struct {
				URL      string `json:"url"`
				Protocol string `json:"protocol"`
			} `json:"response"`
		}
		json.Unmarshal(e.Params, &p)
		switch e.Method {
		case "Network.responseReceived":
			list = append(list, "GET "+p.Response.URL+" "+p.Response.Protocol)
		case "Network.webSocketCreated":
			list = append(list, "WebSocket "+p.URL)
		}
	}
	return list
}
