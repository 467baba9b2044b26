package sink

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseRetryAfter reads an HTTP Retry-After value: delay-seconds or an
// HTTP date (relative to now). ok is false when absent or malformed.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, 1<<31)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// HTTPStatusError is a non-2xx answer from a receiver.
type HTTPStatusError struct {
	Code int
	Body string // first bytes of the response body, for the log
}

func (e *HTTPStatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("receiver answered %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("receiver answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

// RetryableStatus is the generic HTTP verdict: 5xx and 429 are worth
// retrying, other 4xx are not (the request itself is wrong).
func RetryableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests
}

// CheckResponse drains and closes resp.Body and turns a non-2xx answer into
// an *HTTPStatusError (wrapped in a RetryAfterError when the receiver asked
// for a delay) with the generic retry verdict.
func CheckResponse(resp *http.Response, now time.Time) (retry bool, err error) {
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	err = &HTTPStatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
		err = &RetryAfterError{After: d, Err: err}
	}
	return RetryableStatus(resp.StatusCode), err
}
