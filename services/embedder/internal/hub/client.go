package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Errors a caller may want to tell apart, wrapped by Download's errors.
var (
	// ErrNotFound: the repository, revision or a needed file does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAccess: the hub refused access, as it does for gated and private
	// repositories without a token that has access.
	ErrAccess = errors.New("access denied")
)

// Retry settings: a few attempts with doubling delays ride out a hub or CDN
// hiccup without making a real outage slow to report. Variables so that
// tests can shorten them.
var (
	maxAttempts  = 4
	retryBackoff = 500 * time.Millisecond
	maxBackoff   = 30 * time.Second
	// stallTimeout bounds the wait for response headers and between two
	// reads of a body. There is no overall timeout, since a model file takes
	// as long as it takes on a slow link, but a connection that stops moving
	// is dropped and the download resumed.
	stallTimeout = 60 * time.Second
)

// errStalled is the cause of a request cancelled by the stall timer.
var errStalled = errors.New("no data received for too long")

// transientError marks an error worth retrying: a network failure, a stall,
// or a 408, 429 or 5xx response. retryAfter is the server's Retry-After.
type transientError struct {
	err        error
	retryAfter time.Duration
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// client makes the hub's HTTP requests.
type client struct {
	endpoint string // without a trailing slash
	host     string // the endpoint's, to tell the hub's answers from a CDN's
	token    string
	http     *http.Client
}

// get starts a GET request and returns the response with a body that fails
// when it stalls. Failures are transientError unless ctx ended. The caller
// closes the body.
func (c *client) get(ctx context.Context, rawURL string, header http.Header) (*http.Response, error) {
	reqCtx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("hub: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "arxivsearch-embedder")
	if c.token != "" {
		// net/http drops this header on a redirect to another host, so the
		// token reaches the hub but not the CDN it redirects LFS files to.
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	timer := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	resp, err := c.http.Do(req)
	if err != nil {
		timer.Stop()
		cancel(nil)
		// The url.Error names the URL that failed, perhaps a redirect's.
		what := "GET " + redactURL(rawURL)
		if ue, ok := errors.AsType[*url.Error](err); ok {
			what, err = "GET "+redactURL(ue.URL), ue.Err
		}
		return nil, requestError(ctx, reqCtx, what, err)
	}
	resp.Body = &watchedBody{
		ReadCloser: resp.Body, what: "reading " + redactURL(resp.Request.URL.String()),
		ctx: ctx, reqCtx: reqCtx, cancel: cancel, timer: timer,
	}
	return resp, nil
}

// redactURL leaves out what a URL may hold of credentials: user
// information, and the query in which a CDN's redirect carries a signature.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.ForceQuery = nil, "", false
	return u.String()
}

// requestError classifies the failure of what, a request made under
// reqCtx, a child of ctx: the end of ctx is the caller's and final,
// anything else (a stall included) is worth a retry.
func requestError(ctx, reqCtx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctxError(ctx)
	}
	if cause := context.Cause(reqCtx); errors.Is(cause, errStalled) {
		err = fmt.Errorf("hub: %s: %w (%v)", what, errStalled, stallTimeout)
	} else {
		err = fmt.Errorf("hub: %s: %w", what, err)
	}
	return &transientError{err: err}
}

// ctxError is the error for an ended ctx: it wraps ctx.Err(), so that
// errors.Is(err, context.Canceled) holds, and the cause when there is one.
func ctxError(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		return fmt.Errorf("hub: %w (%w)", ctx.Err(), cause)
	}
	return fmt.Errorf("hub: %w", ctx.Err())
}

// watchedBody is a response body whose reads restart the stall timer.
type watchedBody struct {
	io.ReadCloser
	what        string // for errors
	ctx, reqCtx context.Context
	cancel      context.CancelCauseFunc
	timer       *time.Timer
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(stallTimeout)
	}
	if err != nil && err != io.EOF {
		err = requestError(b.ctx, b.reqCtx, b.what, err)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// retry runs op until it succeeds, fails with an error that is not
// transient, or has been tried maxAttempts times, sleeping between attempts
// with exponential backoff and jitter, longer when the server asks for it.
func retry(ctx context.Context, op func() error) error {
	delay := retryBackoff
	for attempt := 1; ; attempt++ {
		err := op()
		var t *transientError
		if err == nil || !errors.As(err, &t) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		wait := delay/2 + rand.N(delay/2+1)
		if t.retryAfter > wait {
			wait = min(t.retryAfter, maxBackoff)
		}
		sleep := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			sleep.Stop()
			return ctxError(ctx)
		case <-sleep.C:
		}
		delay = min(2*delay, maxBackoff)
	}
}

// statusError turns a failed response into an error that says what to do
// about it. The hub explains a failure in its X-Error-Code header
// (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo), since a 401
// alone does not tell a missing repository from a private or gated one.
// file is empty for the listing request.
func (c *client) statusError(resp *http.Response, repoID, rev, file string) error {
	code := resp.Header.Get("X-Error-Code")
	what := repoID
	if file != "" {
		what = fmt.Sprintf("%s (file %s)", repoID, file)
	}
	status := resp.Status
	fromHub := resp.Request.URL.Host == c.host
	switch {
	case !fromHub:
		// A CDN's refusal (an expired signature, say) is not the hub's.
	case code == "GatedRepo":
		hint := "set HF_TOKEN to a token of an account that has accepted them"
		if c.token != "" {
			hint = "the token's account has not been granted access yet"
		}
		return fmt.Errorf("hub: %s is gated: accept its conditions on the hub page of the model; %s (%s): %w", what, hint, status, ErrAccess)
	case code == "RevisionNotFound":
		return fmt.Errorf("hub: revision %q not found in %s (%s): %w", rev, repoID, status, ErrNotFound)
	case code == "EntryNotFound" || file != "" && resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("hub: file %s not found in %s at %s (%s): %w", file, repoID, rev, status, ErrNotFound)
	case resp.StatusCode == http.StatusUnauthorized:
		if c.token != "" {
			return fmt.Errorf("hub: %s: the hub rejected HF_TOKEN, or the repository does not exist (%s): %w", what, status, ErrAccess)
		}
		return fmt.Errorf("hub: %s does not exist, or is private or gated: check the id, or set HF_TOKEN to a token with access (%s): %w", what, status, ErrAccess)
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("hub: %s: access forbidden; set HF_TOKEN to a token with read access to the repository (%s): %w", what, status, ErrAccess)
	case code == "RepoNotFound" || resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("hub: repository %s not found on %s (%s): %w", repoID, c.endpoint, status, ErrNotFound)
	}
	err := fmt.Errorf("hub: %s: GET %s: %s", what, redactURL(resp.Request.URL.String()), status)
	if resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
		t := &transientError{err: err}
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
			t.retryAfter = time.Duration(s) * time.Second
		}
		return t
	}
	return err
}
