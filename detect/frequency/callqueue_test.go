package frequency

import (
	"math/rand/v2"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// scheduledCall is one call of a simulated task, due at second at.
type scheduledCall struct {
	at                        int
	agent, tool, trace, input string
}

// callQueue holds the scheduled calls of the task simulations.
type callQueue []scheduledCall

// step replays, at second sec of the simulation, the calls due by then
// through det in the order they were scheduled, keeps the others, and
// ticks det every 10 s.
func (q *callQueue) step(det detect.Detector, sec int, out []detect.Finding) []detect.Finding {
	ts := base.Add(time.Duration(sec) * time.Second)
	if len(*q) > 0 {
		keep := (*q)[:0]
		for _, c := range *q {
			if c.at > sec {
				keep = append(keep, c)
				continue
			}
			rec := record.Record{Timestamp: ts, AgentID: c.agent, Tool: record.Tool{Name: c.tool}, TraceID: c.trace,
				Invocation: record.Invocation{InputHash: c.input}}
			out = det.Observe(&rec, out)
		}
		*q = keep
	}
	if sec%10 == 0 {
		out = det.Tick(ts, out)
	}
	return out
}

// incidentStarts reports, for each second of a simulation, whether an
// extra task starts: at perHour a Poisson rate for the 30 minutes from
// second from, drawn from its own stream of seed.
func incidentStarts(seed, stream uint64, from int, perHour float64) func(sec int) bool {
	rng := rand.New(rand.NewPCG(seed, stream))
	return func(sec int) bool {
		return sec >= from && sec < from+1800 && rng.Float64() < perHour/3600
	}
}
