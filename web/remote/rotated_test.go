package remote

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A host whose certificate was replaced by one of another CA while its
// event stream was open (the CA rotated, the host restarted) ends the
// follower after RetryFor, and the error must say why the host could not
// be reached again: poolctl events printed "timed out waiting for reply;
// poold may still be working" (the last try, cut by the RetryFor
// deadline) rather than the certificate every try had failed on.
func TestFollowerAfterCertificateRotationSaysWhy(t *testing.T) {
	oldCert := testCert(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	newCert := testCert(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	var rotated atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/dstats":
			w.Write([]byte(`{"status":"ok","info":{"pid":7,"create_time":1700000000.5}}`))
		case "/api/v1/events":
			spawnEvent(w, "1")
			rotated.Store(true) // and the stream ends, its connection closed
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Config.SetKeepAlivesEnabled(false)
	// GetConfigForClient, as a URL of an IP address sends no SNI, which
	// GetCertificate needs.
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{oldCert}, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if rotated.Load() {
			return &tls.Config{Certificates: []tls.Certificate{newCert}}, nil
		}
		return nil, nil
	}}
	srv.StartTLS()
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, Token: "0123456789abcdef",
		CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: oldCert.Certificate[0]})})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Each try takes a while (a loaded machine, a distant host): the
	// last one is cut by the RetryFor deadline.
	err = errAfterFirstEvent(t, c)
	if err == nil || !strings.Contains(err.Error(), "not signed by the CA given") || strings.Contains(err.Error(), "timed out") {
		t.Errorf("after the host's certificate changed: %v; want it to say the certificate is not signed by the CA given, not a time-out", err)
	}
}

// A host that went away (its poold stopped) and stays away past RetryFor
// is reported as refusing connections, what every try met, not as a
// time-out of the last try.
func TestFollowerOfAHostThatStaysAwaySaysWhy(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/dstats":
			w.Write([]byte(`{"status":"ok","info":{"pid":7,"create_time":1700000000.5}}`))
		case "/api/v1/events":
			spawnEvent(w, "1")
			srv.Listener.Close() // nobody listens any more
		}
	}))
	srv.Config.SetKeepAlivesEnabled(false)
	srv.Start()
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, Token: "0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = errAfterFirstEvent(t, c)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "timed out") {
		t.Errorf("after the host went away: %v; want it to say connection refused, not a time-out", err)
	}
}

// errAfterFirstEvent follows c's events with a short RetryFor, takes the
// first (a spawn) and returns the error the next receive ends with.
func errAfterFirstEvent(t *testing.T, c *Client) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := c.Follow(ctx, nil, 0, FollowOptions{RetryFor: 3 * time.Second, Poll: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if topic, _, err := f.RecvRaw(ctx); err != nil || topic != "watcher.web.spawn" {
		t.Fatalf("first event: %q, %v", topic, err)
	}
	_, _, err = f.RecvRaw(ctx)
	return err
}
