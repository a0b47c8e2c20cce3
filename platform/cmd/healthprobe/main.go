// Command healthprobe checks one service's health and exits 0 when it is
// healthy, 1 when it is not, 2 on bad usage. It is the HEALTHCHECK of the
// container images, which carry no curl or grpcurl:
//
//	healthprobe -grpc :50051                  # grpc.health.v1 Check: SERVING?
//	healthprobe -grpc :50051 -service arxivsearch.embedder.v1.EmbedderService
//	healthprobe -http :8080 -path /readyz     # HTTP GET: 2xx?
//
// Addresses may be given as the service's own listen setting (":50051",
// "0.0.0.0:8080"): an empty or unspecified host is probed on loopback, so an
// image's HEALTHCHECK can pass "$EMBEDDER_LISTEN" and follow a changed port.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthprobe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	grpcAddr := fs.String("grpc", "", "gRPC address (host:port or a listen address such as :50051) to ask grpc.health.v1.Health/Check")
	service := fs.String("service", "", "service name for the gRPC check; empty asks about the server as a whole")
	httpAddr := fs.String("http", "", "HTTP address (host:port or a listen address such as :8080) to GET")
	path := fs.String("path", "/healthz", "path of the HTTP check")
	timeout := fs.Duration("timeout", 3*time.Second, "longest wait for the answer")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "healthprobe: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if (*grpcAddr == "") == (*httpAddr == "") {
		fmt.Fprintln(stderr, "healthprobe: give exactly one of -grpc and -http")
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "healthprobe: -timeout %v: want a positive duration\n", *timeout)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var (
		what string
		err  error
	)
	if *grpcAddr != "" {
		what, err = checkGRPC(ctx, *grpcAddr, *service)
	} else {
		what, err = checkHTTP(ctx, *httpAddr, *path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "healthprobe: %s: %v\n", what, err)
		return 1
	}
	fmt.Fprintf(stdout, "healthprobe: %s: ok\n", what)
	return 0
}

// dialAddr turns a listen address into one to connect to: a missing or
// unspecified host (":50051", "0.0.0.0:50051", "[::]:50051") is loopback.
func dialAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if port == "" {
		return "", fmt.Errorf("address %q: no port", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func checkGRPC(ctx context.Context, addr, service string) (string, error) {
	what := "gRPC health of " + addr
	if service != "" {
		what += " service " + service
	}
	target, err := dialAddr(addr)
	if err != nil {
		return what, err
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return what, err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return what, err
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return what, fmt.Errorf("status %s", st)
	}
	return what, nil
}

func checkHTTP(ctx context.Context, addr, path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	what := "HTTP GET " + addr + path
	target, err := dialAddr(addr)
	if err != nil {
		return what, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target+path, nil)
	if err != nil {
		return what, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return what, err
	}
	defer resp.Body.Close()
	// The body says why a readiness check fails; a little of it goes to
	// the container's health log.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return what, errors.New(strings.TrimSpace(fmt.Sprintf("%s %s", resp.Status, body)))
	}
	return what, nil
}
