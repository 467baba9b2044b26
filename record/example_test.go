package record_test

import (
	"fmt"
	"time"

	"github.com/toolwatch/toolwatch/record"
)

func ExampleDecoder_Decode() {
	d := record.NewDecoder(record.DefaultLimits())
	var r record.Record
	err := d.Decode([]byte(`{"trace_id":"t","span_id":"s","timestamp":"2026-03-23T15:30:00.5+01:00",
		"agent_id":"a","tool":{"name":"sql"},"invocation":{"duration_ms":12,"status":"ok"}}`), &r)
	fmt.Println(record.Reason(err))

	err = d.Decode([]byte(`{"trace_id":"t","span_id":"s","timestamp":"2026-03-23T15:30:00.5+01:00",
		"agent_id":"a","tool":{"name":"sql"},"invocation":{"duration_ms":12,"status":"error"}}`), &r)
	fmt.Println(err, r.Timestamp.Format(time.RFC3339Nano), r.Invocation.OutputBytes == record.Absent)
	// Output:
	// invocation.status: must be one of success, error, denied, timeout
	// <nil> 2026-03-23T14:30:00.5Z true
}

func ExampleRecord_AppendJSON() {
	var r record.Record
	r.Reset()
	r.TraceID, r.SpanID, r.AgentID = "t", "s", "a"
	r.Timestamp = time.Date(2026, 3, 23, 14, 30, 0, 123456789, time.UTC)
	r.Tool.Name = "sql"
	r.Invocation.DurationMS, r.Invocation.Status = 12.5, record.StatusSuccess
	r.Invocation.OutputBytes = 2048
	fmt.Println(string(r.AppendJSON(nil)))
	// Output:
	// {"trace_id":"t","span_id":"s","timestamp":"2026-03-23T14:30:00.123Z","agent_id":"a","tool":{"name":"sql"},"invocation":{"duration_ms":12.5,"status":"success","output_bytes":2048}}
}
