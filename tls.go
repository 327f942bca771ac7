// TLS: the server's https:// and wss:// (-tls-cert and -tls-key, or
// -tls-dev), and the terminal client's trust in a server it cannot verify
// against the system's roots (-ca, -pin). RFC 6455 §4.2.2 step 1 and §10.6
// (S-14): a server should be able to speak TLS itself, not only behind a
// proxy.
//
//	go run . -tls-dev -addr localhost:8443
//	go run . -connect wss://localhost:8443/echo -pin SPKI_SHA256
//
// HTTP/2 is offered through ALPN as net/http offers it by default (h2,
// then http/1.1): the page may load over HTTP/2, and so may its
// WebSocket, as an extended CONNECT on a stream of the page's own
// connection (RFC 8441, rfc8441.go), or, from a client that does not
// speak it, as a GET with Upgrade on a connection that chose http/1.1.

package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// devValidity is how long a -tls-dev certificate is valid: days, not
// years. It is made anew at every start, so a week is plenty, and a key
// that leaks from a development machine is not trusted for long.
const devValidity = 7 * 24 * time.Hour

// devNames are the names a -tls-dev certificate is for: those of the
// loopback address, which a browser on the same machine uses.
var devNames = loopbackHosts

// ---------------------------------------------------------------------------
// The server's side
// ---------------------------------------------------------------------------

// serverTLSFlags are the flags that turn TLS on for the server.
type serverTLSFlags struct {
	certFile, keyFile string
	dev               bool
}

func addServerTLSFlags(fs *flag.FlagSet) *serverTLSFlags {
	f := &serverTLSFlags{}
	fs.StringVar(&f.certFile, "tls-cert", "", "serve https:// and wss:// with the certificate in this PEM `file` (the chain after the leaf, if any); needs -tls-key")
	fs.StringVar(&f.keyFile, "tls-key", "", "the PEM `file` of -tls-cert's private key")
	fs.BoolVar(&f.dev, "tls-dev", false, "serve https:// and wss:// with a self-signed development certificate made at start, for localhost, 127.0.0.1 and ::1, valid a week; its SHA-256 fingerprints are logged, to trust exactly it")
	return f
}

// on reports whether the flags ask for TLS, right or wrong.
func (f *serverTLSFlags) on() bool { return f.dev || f.certFile != "" || f.keyFile != "" }

// config returns the server's TLS configuration, or nil when the flags ask
// for none: then the server speaks cleartext, as without them. It logs
// which certificate is served and its fingerprints.
func (f *serverTLSFlags) config(log *slog.Logger) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	switch {
	case f.dev && (f.certFile != "" || f.keyFile != ""):
		return nil, errors.New("-tls-dev makes its own certificate: give it, or -tls-cert and -tls-key, not both")
	case f.dev:
		cert, err = devCertificate(time.Now())
	case f.certFile != "" && f.keyFile != "":
		cert, err = tls.LoadX509KeyPair(f.certFile, f.keyFile)
	case f.certFile != "" || f.keyFile != "":
		return nil, errors.New("-tls-cert and -tls-key go together")
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	leaf := cert.Leaf // set by both since Go 1.23 (GODEBUG x509keypairleaf)
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
	}
	source := "file " + f.certFile
	if f.dev {
		source = "development, self-signed"
	}
	log.Info("tls certificate", "source", source, "names", certNames(leaf),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
		"cert_sha256", certFingerprint(leaf), "spki_sha256", spkiFingerprint(leaf))
	// NextProtos is left to net/http: Server.ServeTLS offers h2 and
	// http/1.1 through ALPN (RFC 7301), as it does by default.
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

// serve serves srv on ln, over TLS if srv.TLSConfig is set. ServeTLS,
// not a tls.NewListener of our own: it is what sets HTTP/2 up on the
// server and offers it, and http/1.1, through ALPN (NextProtos).
func serve(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig == nil {
		return srv.Serve(ln)
	}
	return srv.ServeTLS(ln, "", "") // the certificate is in srv.TLSConfig
}

// devCertificate makes a self-signed certificate for the loopback names,
// valid from shortly before now (for clocks a little behind) for
// devValidity: an ECDSA P-256 key (RFC 5480), the names as subject
// alternative names (RFC 5280 §4.2.1.6), which is all browsers check.
func devCertificate(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"wsecho development"}, CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(devValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// A leaf, not a CA: trusting it (by pin, or as a root) trusts
		// this server and cannot vouch for any other.
		BasicConstraintsValid: true,
	}
	for _, name := range devNames {
		if ip := net.ParseIP(name); ip != nil {
			template.IPAddresses = append(template.IPAddresses, ip)
		} else {
			template.DNSNames = append(template.DNSNames, name)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// certNames lists the names a certificate is for, for the log.
func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return strings.Join(names, ",")
}

// certFingerprint is the SHA-256 of the whole certificate, in the form
// browsers and openssl x509 -fingerprint -sha256 show it: hex bytes
// joined by colons.
func certFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	var b strings.Builder
	for i, octet := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", octet)
	}
	return b.String()
}

// spkiFingerprint is the SHA-256 of the certificate's SubjectPublicKeyInfo
// in base64: the form Chromium's --ignore-certificate-errors-spki-list
// takes (and RFC 7469's pin-sha256). It names the key, whatever
// certificate carries it.
func spkiFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ---------------------------------------------------------------------------
// The client's side: which servers -connect trusts
// ---------------------------------------------------------------------------

// clientTLSFlags are the terminal client's ways to trust a server that the
// system's roots do not vouch for, without turning verification off.
type clientTLSFlags struct {
	caFile string
	pins   string
}

func addClientTLSFlags(fs *flag.FlagSet) *clientTLSFlags {
	f := &clientTLSFlags{}
	fs.StringVar(&f.caFile, "ca", "", "with -connect wss://: trust the certificates in this PEM `file` as roots, instead of the system's; the host name is still checked. (Without it, the system's roots: on Linux, SSL_CERT_FILE and SSL_CERT_DIR can name other files for them)")
	fs.StringVar(&f.pins, "pin", "", "with -connect wss://: trust only a server whose certificate has this SHA-256 `fingerprint`, of its SPKI (base64) or of the whole certificate (hex), as -tls-dev logs them; comma-separated for several. Alone, the pin is the whole check; with -ca, both must pass")
	return f
}

// config returns the TLS configuration for Dial (DialOptions.TLSConfig),
// or nil for Go's defaults: the system's roots, and the host name.
func (f *clientTLSFlags) config() (*tls.Config, error) {
	if f.caFile == "" && f.pins == "" {
		return nil, nil
	}
	config := &tls.Config{}
	if f.caFile != "" {
		roots, err := loadRoots(f.caFile)
		if err != nil {
			return nil, err
		}
		config.RootCAs = roots
	}
	if f.pins != "" {
		pins, err := parsePins(f.pins)
		if err != nil {
			return nil, err
		}
		// A pin alone is the whole check, as an SSH known host is: the
		// usual verification, which a self-signed certificate cannot
		// pass, is turned off, as crypto/tls documents for pinning
		// ("InsecureSkipVerify ... should be used only ... in combination
		// with VerifyConnection or VerifyPeerCertificate"), and
		// VerifyConnection puts the pin in its place. The handshake still
		// proves that the server holds the pinned certificate's key: its
		// signature (CertificateVerify, RFC 8446 §4.4.3) is checked
		// whatever InsecureSkipVerify says. With -ca, verification stays
		// on, host name included, and the pin is checked as well.
		config.InsecureSkipVerify = f.caFile == ""
		config.VerifyConnection = pins.verify
	}
	return config, nil
}

// loadRoots reads a PEM bundle of certificates into a pool.
func loadRoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("-ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-ca: %s holds no PEM certificate", file)
	}
	return roots, nil
}

// pinSet is the SHA-256 fingerprints -pin accepts, each of a leaf's SPKI
// or of the whole leaf.
type pinSet [][sha256.Size]byte

// parsePins reads -pin's comma-separated fingerprints, each 32 bytes in
// base64 (as spki_sha256 is logged) or hex (as cert_sha256 is, colons
// optional).
func parsePins(list string) (pinSet, error) {
	var pins pinSet
	for _, pin := range splitList(list) {
		sum, err := decodeFingerprint(pin)
		if err != nil {
			return nil, err
		}
		pins = append(pins, sum)
	}
	if len(pins) == 0 {
		return nil, errors.New("-pin: no fingerprint given")
	}
	return pins, nil
}

func decodeFingerprint(pin string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	b, err := hex.DecodeString(strings.ReplaceAll(pin, ":", ""))
	if err != nil || len(b) != sha256.Size {
		b, err = base64.StdEncoding.DecodeString(pin)
	}
	if err != nil || len(b) != sha256.Size {
		return sum, fmt.Errorf("-pin: %q is not a SHA-256 fingerprint, in base64 (44 characters) or hex (64 digits)", pin)
	}
	copy(sum[:], b)
	return sum, nil
}

// verify is tls.Config.VerifyConnection: it accepts the connection only if
// the server's leaf certificate, the one whose key signed the handshake,
// matches a pin. It runs on resumed sessions too, which
// VerifyPeerCertificate does not.
func (pins pinSet) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	whole := sha256.Sum256(leaf.Raw)
	for _, pin := range pins {
		if bytes.Equal(pin[:], spki[:]) || bytes.Equal(pin[:], whole[:]) {
			return nil
		}
	}
	return fmt.Errorf("tls: the server's certificate matches no -pin: its spki_sha256 is %s, its cert_sha256 %s",
		spkiFingerprint(leaf), certFingerprint(leaf))
}

// trustHint is what the terminal client adds to an error from Dial when
// the server's certificate could not be verified: how to trust it.
func trustHint(err error) string {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return " (to trust this server, give -ca with its CA's certificate, or -pin with its fingerprint; see -h)"
	}
	return ""
}

// ---------------------------------------------------------------------------
// WebSockets over HTTP/2 (RFC 8441, rfc8441.go)
// ---------------------------------------------------------------------------

// extendedConnect is the GODEBUG setting that has net/http's HTTP/2
// server accept extended CONNECT and advertise it
// (SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 §3): without it, Chromium
// opens its WebSockets over HTTP/1.1 connections, and a :protocol is a
// stream error. net/http reads it once, from the environment, when the
// process starts: neither //go:debug nor go.mod can set it (it is not a
// registered setting), and os.Setenv in main comes too late. So main
// starts itself again with it set (reexec). Once net/http has a
// per-server switch for it, this goes.
const extendedConnect = "http2xconnect=1"

// hasExtendedConnect reports whether this process started with
// extendedConnect in GODEBUG.
func hasExtendedConnect() bool {
	for setting := range strings.SplitSeq(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(setting) == extendedConnect {
			return true
		}
	}
	return false
}

// extendedConnectChosen reports whether GODEBUG says anything of
// http2xconnect: then it is the user's choice (=0 turns it off), and main
// leaves it as it is.
func extendedConnectChosen() bool {
	return strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=")
}

// withExtendedConnect returns env with extendedConnect added to its
// GODEBUG, whose other settings stay; a process reads only the first
// GODEBUG of its environment, so there is one.
func withExtendedConnect(env []string) []string {
	godebug := extendedConnect
	var out []string
	for _, kv := range env {
		if old, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if old != "" {
				godebug = old + "," + extendedConnect
			}
			continue
		}
		out = append(out, kv)
	}
	return append(out, "GODEBUG="+godebug)
}

// Flow control for HTTP/2 (RFC 9113 §5.2): a WebSocket whose handler stops
// reading (its peer does not read the echoes, say) keeps what it was sent
// unread, and that counts against its connection's window as well as its
// own stream's. With net/http's defaults, 1 MiB each, one such stream
// would stall every other stream of the connection, the page's and other
// WebSockets' (H-12). So the connection's window holds every stream's
// whole window: no stream that stops reading can stall another.
const (
	h2MaxStreams   = 32       // streams a client may have open on one connection
	h2StreamWindow = 64 << 10 // RFC 9113's initial window; the most one stream may have unread
)

// offerOnlyHTTP1 is config for -connect -http2=false: a wss:// connection
// that offers http/1.1 alone through ALPN, so that Dial upgrades.
func offerOnlyHTTP1(config *tls.Config) *tls.Config {
	if config == nil {
		config = &tls.Config{}
	}
	config = config.Clone()
	config.NextProtos = []string{"http/1.1"}
	return config
}

// configureHTTP2 sets srv up for HTTP/2 over TLS, or, if !on, for
// HTTP/1.1 alone (-http2=false).
func configureHTTP2(srv *http.Server, on bool) {
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(on)
	srv.HTTP2 = &http.HTTP2Config{
		MaxConcurrentStreams:          h2MaxStreams,
		MaxReceiveBufferPerStream:     h2StreamWindow,
		MaxReceiveBufferPerConnection: h2MaxStreams * h2StreamWindow, // 2 MiB, under net/http's 4 MiB
		// HTTP/2's smallest frames (RFC 9113 §4.2): a client sizes the
		// buffer its request body goes through by them, for as long as
		// the stream lasts, which for a WebSocket is its whole life: with
		// net/http's 1 MiB, Go's client holds 512 KiB per WebSocket.
		MaxReadFrameSize: 16 << 10,
	}
}
