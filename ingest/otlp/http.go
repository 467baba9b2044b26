package otlp

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"

	"github.com/klauspost/compress/gzip"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TracesPath is the OTLP/HTTP traces endpoint.
const TracesPath = "/v1/traces"

const (
	ctProto = "application/x-protobuf"
	ctJSON  = "application/json"
)

// HTTPHandler serves POST /v1/traces (OTLP/HTTP, binary protobuf or JSON,
// identity or gzip).
func (r *Receiver) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(TracesPath, r.serveTraces)
	return mux
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (r *Receiver) serveTraces(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "OTLP/HTTP export uses POST", http.StatusMethodNotAllowed)
		r.m.requests.WithLabelValues("http", codeBadRequest).Inc()
		return
	}
	isJSON := false
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	switch {
	case err != nil:
	case mt == ctProto || mt == "application/protobuf":
	case mt == ctJSON:
		isJSON = true
	default:
		err = errors.New("unsupported")
	}
	if err != nil {
		r.fail(w, false, http.StatusUnsupportedMediaType, codeUnsupportedMediaType,
			"Content-Type must be application/x-protobuf or application/json")
		return
	}
	if !r.authorized(req.Header.Get("Authorization")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="toolwatch-otlp"`)
		r.fail(w, isJSON, http.StatusUnauthorized, codeUnauthenticated, "missing or wrong bearer token")
		return
	}
	if !r.acquire() {
		r.retryLater(w, isJSON, http.StatusTooManyRequests, codeThrottled, "too many concurrent export requests")
		return
	}
	defer r.release()

	max := int64(r.cfg.MaxRequestBytes)
	if req.ContentLength > max {
		r.fail(w, isJSON, http.StatusRequestEntityTooLarge, codeTooLarge, "request body larger than "+strconv.FormatInt(max, 10)+" bytes")
		return
	}
	raw := bufPool.Get().(*bytes.Buffer)
	defer putBuf(raw)
	raw.Reset()
	if _, err := raw.ReadFrom(http.MaxBytesReader(w, req.Body, max)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			r.fail(w, isJSON, http.StatusRequestEntityTooLarge, codeTooLarge, "request body larger than "+strconv.FormatInt(max, 10)+" bytes")
		} else {
			r.fail(w, isJSON, http.StatusBadRequest, codeBadRequest, "reading the request body failed")
		}
		return
	}
	body := raw.Bytes()
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		plain := bufPool.Get().(*bytes.Buffer)
		defer putBuf(plain)
		plain.Reset()
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			r.fail(w, isJSON, http.StatusBadRequest, codeBadRequest, "invalid gzip body")
			return
		}
		limit := int64(r.cfg.MaxDecompressedBytes)
		n, err := plain.ReadFrom(io.LimitReader(zr, limit+1))
		switch {
		case err != nil:
			r.fail(w, isJSON, http.StatusBadRequest, codeBadRequest, "invalid gzip body")
			return
		case n > limit:
			r.fail(w, isJSON, http.StatusRequestEntityTooLarge, codeTooLarge,
				"decompressed body larger than "+strconv.FormatInt(limit, 10)+" bytes")
			return
		}
		body = plain.Bytes()
	default:
		r.fail(w, isJSON, http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "Content-Encoding must be gzip or identity")
		return
	}

	ereq := ptraceotlp.NewExportRequest()
	if isJSON {
		err = ereq.UnmarshalJSON(body)
	} else {
		err = ereq.UnmarshalProto(body)
	}
	if err != nil {
		r.fail(w, isJSON, http.StatusBadRequest, codeBadRequest, "cannot decode the OTLP request: "+err.Error())
		return
	}
	resp, err := r.export(req.Context(), ereq.Traces())
	if err != nil {
		e := err.(*exportErr)
		st := http.StatusServiceUnavailable
		if e.code == codeThrottled {
			st = http.StatusTooManyRequests
		}
		r.retryLater(w, isJSON, st, e.code, e.msg)
		return
	}
	var out []byte
	if isJSON {
		out, err = resp.MarshalJSON()
	} else {
		out, err = resp.MarshalProto()
	}
	if err != nil { // cannot happen for a response we built; still answer
		r.fail(w, isJSON, http.StatusInternalServerError, codeUnavailable, "encoding the response failed")
		return
	}
	code := codeOK
	if resp.PartialSuccess().RejectedSpans() > 0 {
		code = codePartial
	}
	r.m.requests.WithLabelValues("http", code).Inc()
	w.Header().Set("Content-Type", contentType(isJSON))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 4<<20 { // do not pin a huge body's buffer
		bufPool.Put(b)
	}
}

func contentType(isJSON bool) string {
	if isJSON {
		return ctJSON
	}
	return ctProto
}

// retryLater answers a retryable failure with Retry-After.
func (r *Receiver) retryLater(w http.ResponseWriter, isJSON bool, httpStatus int, code, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(r.cfg.RetryAfter.Seconds())))
	r.fail(w, isJSON, httpStatus, code, msg)
}

// fail answers with a google.rpc.Status body in the request's encoding,
// as the OTLP specification asks, and counts the request.
func (r *Receiver) fail(w http.ResponseWriter, isJSON bool, httpStatus int, code, msg string) {
	r.m.requests.WithLabelValues("http", code).Inc()
	st := status.New(grpcCode(httpStatus), msg).Proto()
	var out []byte
	if isJSON {
		out, _ = protojson.Marshal(st)
	} else {
		out, _ = proto.Marshal(st)
	}
	w.Header().Set("Content-Type", contentType(isJSON))
	w.WriteHeader(httpStatus)
	w.Write(out)
}

func grpcCode(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return codes.InvalidArgument
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	return codes.Internal
}
