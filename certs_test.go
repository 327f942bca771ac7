package main

// The tests' certificates, made fresh for each test: a CA and its leaf
// (testPKI) for the client's trust flags in tls_test.go, and a
// self-signed leaf (testCert) for nginx and Chromium in nginx_test.go. All
// are ECDSA P-256 keys, made by makeCertificate.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A testPKI is a CA and a leaf it signed, in memory and in PEM files, as
// mkcert or a company's CA would make them.
type testPKI struct {
	ca, leaf                             *x509.Certificate
	leafCert                             tls.Certificate
	caFile, caKeyFile, leafFile, keyFile string
}

// newTestPKI makes a CA and a leaf for names (DNS names, or IP addresses).
func newTestPKI(t testing.TB, names ...string) *testPKI {
	t.Helper()
	dir := t.TempDir()
	pki := &testPKI{
		caFile: filepath.Join(dir, "ca.pem"), caKeyFile: filepath.Join(dir, "ca-key.pem"),
		leafFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"),
	}
	now := time.Now()
	caKey, caDER := makeCertificate(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "wsecho test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}, nil, nil)
	pki.ca, _ = x509.ParseCertificate(caDER)
	leafTemplate := &x509.Certificate{
		Subject: pkix.Name{CommonName: "wsecho test server"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, name := range names {
		if ip := net.ParseIP(name); ip != nil {
			leafTemplate.IPAddresses = append(leafTemplate.IPAddresses, ip)
		} else {
			leafTemplate.DNSNames = append(leafTemplate.DNSNames, name)
		}
	}
	leafKey, leafDER := makeCertificate(t, leafTemplate, pki.ca, caKey)
	pki.leaf, _ = x509.ParseCertificate(leafDER)
	pki.leafCert = tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey, Leaf: pki.leaf}
	writePEM(t, pki.caFile, "CERTIFICATE", caDER)
	writePEM(t, pki.leafFile, "CERTIFICATE", leafDER)
	writePEM(t, pki.keyFile, "PRIVATE KEY", marshalKey(t, leafKey))
	writePEM(t, pki.caKeyFile, "PRIVATE KEY", marshalKey(t, caKey))
	return pki
}

// makeCertificate makes a key and a certificate for it from template,
// signed by parent's key, or self-signed if parent is nil.
func makeCertificate(t testing.TB, template, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template.SerialNumber = big.NewInt(time.Now().UnixNano())
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func marshalKey(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t testing.TB, file, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A testCert is a throwaway certificate for localhost and 127.0.0.1, in
// the forms its users want: PEM files for nginx, a pool for Go, and the
// SHA-256 of its public key for Chromium's
// --ignore-certificate-errors-spki-list, which trusts this key and no
// other error.
type testCert struct {
	certPEM, keyPEM []byte
	pool            *x509.CertPool
	spki            string // base64 of the SHA-256 of SubjectPublicKeyInfo
}

// newTestCert makes a self-signed testCert, valid from an hour ago for a
// day.
func newTestCert(t testing.TB) testCert {
	t.Helper()
	now := time.Now()
	key, der := makeCertificate(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, nil, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: marshalKey(t, key)}),
		pool:    pool,
		spki:    base64.StdEncoding.EncodeToString(sum[:]),
	}
}
