package frequency

import (
	"fmt"
	"math"
	"slices"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/keydelta"
	"github.com/toolwatch/toolwatch/detect/internal/ratedetect"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

// stateVersion is the record version this package writes. Versions 1
// and 2 were gob and are not read (the snapshot container refuses them);
// versions 3 to 8 are read and upgraded (version 3's keys had no
// sustained-rise state, version 4's no task series, version 5's no
// agent-wide task factor nor agents' task starts, version 6's no calls per
// task: they start with none; version 7's rates no quiet windows; version
// 8's loops no previous repeated input and its tools no per-key peaks:
// none, learned from the next windows; version 9's loops no same-input
// run nor sustained peak: none, a run begins at its next repeat; version
// 10's task series no excess over its expectation: its excess peak starts
// at the sum's peak, as strong a guard as before, and its expectation sum
// at 0, filled within the longest scale).
const stateVersion = 11

// StateV4 is the snapshot record of a frequency Detector, written field
// by field in the order declared (internal/encoding; Rate, Counter,
// Profile and TopK as in baseline/rate_state.go), then a CRC-32C:
//
//	uvarint version 11, varint Ticked, varint TickedAt,
//	uvarint KeysRejected KeysEvicted ToolsRejected ToolsEvicted AgentsRejected AgentsEvicted,
//	uvarint count, Keys; uvarint count, Tools; uvarint count, Agents
//	key:   str Agent, str Tool, varint LastSeen, varint Size, 3 × varint Scales,
//	       varint LoopSize, Rate, loop, gap, rise, task
//	loop:  Counter, TopK, varint ArmedAt, BE float32 Peak, uvarint Thr, uvarint Next,
//	       BE uint64 Prev, byte Runs,
//	       BE uint64 Run, varint RunAt, BE float32 SPeak, uvarint SThr, uvarint SNext, bool Sus
//	gap:   uvarint Last, BE float32 Mean, BE float32 Peak, uvarint N, varint LastAt, bool Dropped
//	rise:  BE float32 L, uvarint Thr, uvarint Obs, BE float32 Exp, uvarint N,
//	       BE float32 Level, BE float32 Deficit, uvarint Factor
//	task:  8 × BE uint32 Ring, uvarint N, BE float32 EwT EwN Res Sq Sum Peak KEp,
//	       BE float32 L, uvarint Thr, uvarint Obs, BE float32 Exp, uvarint Windows,
//	       uvarint Factor, uvarint Prev,
//	       8 × byte Calls, BE float32 CallsMean CallsPeak, uvarint CallsThr, uvarint CallsSeen,
//	       BE float32 ExpSum ExcessPeak
//	tool:  str Tool, varint LastSeen, varint Size, 3 × varint Scales, varint LoopSize,
//	       Rate, loop, Counter Agents, Profile AgentsP, 3 × uvarint Inst, 3 × BE float32 InstPeak
//	agent: str Agent, varint LastSeen, uvarint Total, varint Last,
//	       uvarint Obs, BE float32 Exp, uvarint PrevObs, BE float32 PrevExp,
//	       uvarint TaskObs, BE float32 TaskExp, uvarint PrevTaskObs, BE float32 PrevTaskExp
//
// Version 10 is the same without the task's ExpSum and ExcessPeak;
// version 9 also without the loops' Run to Sus;
// version 8 also without the loops' Prev and Runs and the tools' Inst and
// InstPeak; version 7 also with rates without Quiet (baseline.Rate
// GetStateNoQuiet); version 6 also without the task's Calls to CallsSeen;
// version 5 also without the task's Factor and Prev and the
// agents' task starts; version 4 also without the keys' task; version 3
// also without the keys' rise and the agents' calls.
// Keys, tools and agents are in their store's recency order
// (baseline.Store.RangeSeen), so equal states encode equally and a
// restore evicts as the original would.
// Per-key configs are not stored: they are resolved from the params of the
// restoring detector. Each key records the window, scales and loop window
// its state was counted in; where the restoring config differs, that part
// is reset as SetParams does.
type StateV4 struct {
	Ticked         int64
	TickedAt       int64 // watermark of the last tick (every key is settled to it)
	KeysRejected   uint64
	KeysEvicted    uint64
	ToolsRejected  uint64
	ToolsEvicted   uint64
	AgentsRejected uint64
	AgentsEvicted  uint64
	Keys           []KeyV4
	Tools          []ToolV3
	Agents         []AgentV4
}

// AgentV4 is one agent's active-window count (drop detection) and its
// judged calls and expectations (agent-wide rise), and from version 6 its
// judged task starts and their expectations.
type AgentV4 struct {
	Agent                string
	LastSeen             int64
	Total                uint64
	Last                 int64
	Obs, PrevObs         uint32
	Exp, PrevExp         float32
	TaskObs, PrevTaskObs uint32
	TaskExp, PrevTaskExp float32
}

// GapV3 is a key's gap state (drop detection).
type GapV3 struct {
	Last    uint64
	Mean    float32
	Peak    float32
	N       uint32
	LastAt  int64
	Dropped bool
}

// RiseV4 is a key's sustained-rise statistic (riseState and
// keyState.riseN) and its idle deficit (idleState).
type RiseV4 struct {
	L       float32
	Thr     uint32
	Obs     uint32
	Exp     float32
	N       uint16
	Level   float32
	Deficit float32
	Factor  uint16 // keyState.riseF
}

func riseDTO(ks *keyState) RiseV4 {
	rs := &ks.rise
	return RiseV4{L: rs.l, Thr: rs.thr, Obs: rs.obs, Exp: rs.exp, N: ks.riseN, Level: ks.idle.lvl, Deficit: ks.idle.def, Factor: ks.riseF}
}

// set sets ks's sustained-rise and idle state from rs.
func (rs *RiseV4) set(ks *keyState) {
	ks.rise = riseState{l: rs.L, thr: rs.Thr, obs: rs.Obs, exp: rs.Exp}
	ks.riseN, ks.riseF = rs.N, rs.Factor
	ks.idle = idleState{lvl: rs.Level, def: rs.Deficit}
}

// KeyV4 is one (agent, tool) key.
type KeyV4 struct {
	Agent, Tool string
	LastSeen    int64                   // store idle clock, unix seconds
	Size        int64                   // window of Rate, seconds
	Scales      [baseline.MaxScales]int // windows per scale of Rate
	LoopSize    int64                   // loop window of Loop, seconds
	Rate        baseline.Rate
	Loop        LoopV3
	Gap         GapV3
	Rise        RiseV4
	Task        TaskV5
}

// TaskV5 is a key's task series (taskState).
type TaskV5 struct {
	Ring              [taskRing]uint32
	N                 uint32
	EwT, EwN, Res, Sq float32
	Sum, Peak         float32
	KEp               float32
	L                 float32
	Thr, Obs          uint32
	Exp               float32
	Windows           uint16
	// Factor (taskState.tf) and Prev (taskState.py): from version 6.
	Factor, Prev uint16
	// Calls per task (taskState.cnt, cm, cpk, cthr, cw): from version 7.
	Calls                [taskRing]uint8
	CallsMean, CallsPeak float32
	CallsThr, CallsSeen  uint8
	// The excess guard (taskState.esum, xpk): from version 11.
	ExpSum, ExcessPeak float32
}

func taskDTO(ts *taskState) TaskV5 {
	return TaskV5{Ring: ts.ring, N: ts.n, EwT: ts.ewT, EwN: ts.ewN, Res: ts.res, Sq: ts.sq, Sum: ts.sum, Peak: ts.peak, KEp: ts.kEp,
		L: ts.l, Thr: ts.thr, Obs: ts.obs, Exp: ts.exp, Windows: ts.windows, Factor: ts.tf, Prev: ts.py,
		Calls: ts.cnt, CallsMean: ts.cm, CallsPeak: ts.cpk, CallsThr: ts.cthr, CallsSeen: ts.cw,
		ExpSum: ts.esum, ExcessPeak: ts.xpk}
}

func (t *TaskV5) state() taskState {
	return taskState{ring: t.Ring, n: t.N, ewT: t.EwT, ewN: t.EwN, res: t.Res, sq: t.Sq, sum: t.Sum, peak: t.Peak, kEp: t.KEp,
		riseState: riseState{l: t.L, thr: t.Thr, obs: t.Obs, exp: t.Exp}, windows: t.Windows, tf: t.Factor, py: t.Prev,
		cnt: t.Calls, cm: t.CallsMean, cpk: t.CallsPeak, cthr: t.CallsThr, cw: t.CallsSeen,
		esum: t.ExpSum, xpk: t.ExcessPeak}
}

func (t *TaskV5) put(e *encoding.Encbuf) {
	for _, h := range t.Ring {
		e.PutBE32(h)
	}
	e.PutUvarint(uint64(t.N))
	for _, v := range [...]float32{t.EwT, t.EwN, t.Res, t.Sq, t.Sum, t.Peak, t.KEp, t.L} {
		e.PutBEFloat32(v)
	}
	e.PutUvarint(uint64(t.Thr))
	e.PutUvarint(uint64(t.Obs))
	e.PutBEFloat32(t.Exp)
	e.PutUvarint(uint64(t.Windows))
	e.PutUvarint(uint64(t.Factor))
	e.PutUvarint(uint64(t.Prev))
	for _, c := range t.Calls {
		e.PutByte(c)
	}
	e.PutBEFloat32(t.CallsMean)
	e.PutBEFloat32(t.CallsPeak)
	e.PutUvarint(uint64(t.CallsThr))
	e.PutUvarint(uint64(t.CallsSeen))
	e.PutBEFloat32(t.ExpSum)
	e.PutBEFloat32(t.ExcessPeak)
}

func (t *TaskV5) get(d *encoding.Decbuf, version int) {
	for i := range t.Ring {
		t.Ring[i] = d.BE32()
	}
	t.N = d.Uvarint32()
	for _, v := range [...]*float32{&t.EwT, &t.EwN, &t.Res, &t.Sq, &t.Sum, &t.Peak, &t.KEp, &t.L} {
		*v = d.BEFloat32()
	}
	t.Thr, t.Obs, t.Exp = d.Uvarint32(), d.Uvarint32(), d.BEFloat32()
	t.Windows = uint16(min(d.Uvarint32(), math.MaxUint16))
	if version >= 6 {
		t.Factor = uint16(min(d.Uvarint32(), math.MaxUint16))
		t.Prev = uint16(min(d.Uvarint32(), math.MaxUint16))
	}
	if version >= 7 {
		for i := range t.Calls {
			t.Calls[i] = d.Byte()
		}
		t.CallsMean, t.CallsPeak = d.BEFloat32(), d.BEFloat32()
		t.CallsThr = uint8(min(d.Uvarint32(), cntMax))
		t.CallsSeen = uint8(min(d.Uvarint32(), math.MaxUint8))
	}
	if version >= 11 {
		t.ExpSum, t.ExcessPeak = d.BEFloat32(), d.BEFloat32()
	} else {
		// No excess learned yet: as strong a guard as the sum's peak
		// was (see stateVersion).
		t.ExcessPeak = t.Peak
	}
}

// check reports a decoded task series that is not finite and non-negative.
func (t *TaskV5) check() error {
	for _, v := range [...]float32{t.EwT, t.EwN, t.Sq, t.Sum, t.Peak, t.KEp, t.L, t.Exp, t.CallsMean, t.CallsPeak, t.ExpSum, t.ExcessPeak} {
		if !(v >= 0 && v <= math.MaxFloat32) {
			return fmt.Errorf("task series level %v: must be finite and non-negative", v)
		}
	}
	if !(t.Res >= -math.MaxFloat32 && t.Res <= math.MaxFloat32) {
		return fmt.Errorf("task series residual %v: must be finite", t.Res)
	}
	if t.Factor > riseFMax*riseFOne {
		return fmt.Errorf("task series agent factor %v: must be at most %d", float64(t.Factor)/riseFOne, riseFMax)
	}
	return nil
}

// LoopV3 is a key's same-input loop state.
type LoopV3 struct {
	Counter baseline.Counter
	Top     baseline.TopK
	ArmedAt int64
	Peak    float32
	Thr     uint32
	Next    uint32
	Prev    uint64 // from version 9, as Runs
	Runs    uint8
	// Run to Sus (the same-input run and the sustained test): from version 10.
	Run   uint64
	RunAt int64
	SPeak float32
	SThr  uint32
	SNext uint32
	Sus   bool
}

// ToolV3 is one tool-level (all agents) key.
type ToolV3 struct {
	Tool     string
	LastSeen int64
	Size     int64
	Scales   [baseline.MaxScales]int
	LoopSize int64
	Rate     baseline.Rate
	Loop     LoopV3
	Agents   baseline.Counter
	AgentsP  baseline.Profile
	// Inst and InstPeak (toolState.inst, instPk): from version 9.
	Inst     [baseline.MaxScales]uint32
	InstPeak [baseline.MaxScales]float32
}

// Smallest encodings, bounding the counts a record may claim.
const (
	minRate    = 2 + 24*8 + 24 + 1 + 72 + 1 + 3*(9*4+2) + 9 + 8
	minLoopV8  = 2 + 4*9 + 1 + 4 + 2
	minKeyV3   = 2 + 1 + 1 + 3 + 1 + minRate + minLoopV8 + 1 + 8 + 1 + 1 + 1
	minKeyV4   = minKeyV3 + 4 + 1 + 1 + 4 + 1 + 4 + 4 + 1
	minKeyV5   = minKeyV4 + taskRing*4 + 1 + 8*4 + 1 + 1 + 4 + 1
	minKeyV6   = minKeyV5 + 1 + 1
	minKeyV8   = minKeyV6 + taskRing + 4 + 4 + 1 + 1
	minKeyV9   = minKeyV8 + 8 + 1
	minLoopRun = 8 + 1 + 4 + 1 + 1 + 1
	minKeyV10  = minKeyV9 + minLoopRun
	minKey     = minKeyV10 + 4 + 4
	minToolV8  = 1 + 1 + 1 + 3 + 1 + minRate + minLoopV8 + 2 + 24*8 + 24 + 4 + 1
	minToolV9  = minToolV8 + 8 + 1 + baseline.MaxScales*(1+4)
	minTool    = minToolV9 + minLoopRun
	minAgentV3 = 1 + 1 + 1 + 1
	minAgentV5 = minAgentV3 + 1 + 4 + 1 + 4
	minAgent   = minAgentV5 + 1 + 4 + 1 + 4
)

func (st *StateV4) put(e *encoding.Encbuf) {
	e.PutVarint(st.Ticked)
	e.PutVarint(st.TickedAt)
	for _, n := range [...]uint64{st.KeysRejected, st.KeysEvicted, st.ToolsRejected, st.ToolsEvicted, st.AgentsRejected, st.AgentsEvicted} {
		e.PutUvarint(n)
	}
	e.PutUvarint(uint64(len(st.Keys)))
	for i := range st.Keys {
		k := &st.Keys[i]
		e.PutUvarintStr(k.Agent)
		e.PutUvarintStr(k.Tool)
		e.PutVarint(k.LastSeen)
		putWindow(e, k.Size, &k.Scales, k.LoopSize)
		k.Rate.PutState(e)
		k.Loop.put(e)
		g := &k.Gap
		e.PutUvarint(g.Last)
		e.PutBEFloat32(g.Mean)
		e.PutBEFloat32(g.Peak)
		e.PutUvarint(uint64(g.N))
		e.PutVarint(g.LastAt)
		e.PutBool(g.Dropped)
		rs := &k.Rise
		e.PutBEFloat32(rs.L)
		e.PutUvarint(uint64(rs.Thr))
		e.PutUvarint(uint64(rs.Obs))
		e.PutBEFloat32(rs.Exp)
		e.PutUvarint(uint64(rs.N))
		e.PutBEFloat32(rs.Level)
		e.PutBEFloat32(rs.Deficit)
		e.PutUvarint(uint64(rs.Factor))
		k.Task.put(e)
	}
	e.PutUvarint(uint64(len(st.Tools)))
	for i := range st.Tools {
		t := &st.Tools[i]
		e.PutUvarintStr(t.Tool)
		e.PutVarint(t.LastSeen)
		putWindow(e, t.Size, &t.Scales, t.LoopSize)
		t.Rate.PutState(e)
		t.Loop.put(e)
		t.Agents.PutState(e)
		t.AgentsP.PutState(e)
		for _, x := range t.Inst {
			e.PutUvarint(uint64(x))
		}
		for _, x := range t.InstPeak {
			e.PutBEFloat32(x)
		}
	}
	e.PutUvarint(uint64(len(st.Agents)))
	for i := range st.Agents {
		a := &st.Agents[i]
		e.PutUvarintStr(a.Agent)
		e.PutVarint(a.LastSeen)
		e.PutUvarint(a.Total)
		e.PutVarint(a.Last)
		e.PutUvarint(uint64(a.Obs))
		e.PutBEFloat32(a.Exp)
		e.PutUvarint(uint64(a.PrevObs))
		e.PutBEFloat32(a.PrevExp)
		e.PutUvarint(uint64(a.TaskObs))
		e.PutBEFloat32(a.TaskExp)
		e.PutUvarint(uint64(a.PrevTaskObs))
		e.PutBEFloat32(a.PrevTaskExp)
	}
}

func putWindow(e *encoding.Encbuf, size int64, scales *[baseline.MaxScales]int, loop int64) {
	ratedetect.PutWindow(e, size, scales)
	e.PutVarint(loop)
}

func getWindow(d *encoding.Decbuf, size *int64, scales *[baseline.MaxScales]int, loop *int64) {
	ratedetect.GetWindow(d, size, scales)
	*loop = d.Varint()
}

func (l *LoopV3) put(e *encoding.Encbuf) {
	l.Counter.PutState(e)
	l.Top.PutState(e)
	e.PutVarint(l.ArmedAt)
	e.PutBEFloat32(l.Peak)
	e.PutUvarint(uint64(l.Thr))
	e.PutUvarint(uint64(l.Next))
	e.PutBE64(l.Prev)
	e.PutByte(l.Runs)
	e.PutBE64(l.Run)
	e.PutVarint(l.RunAt)
	e.PutBEFloat32(l.SPeak)
	e.PutUvarint(uint64(l.SThr))
	e.PutUvarint(uint64(l.SNext))
	e.PutBool(l.Sus)
}

func (l *LoopV3) get(d *encoding.Decbuf, version int) {
	l.Counter.GetState(d)
	l.Top.GetState(d)
	l.ArmedAt, l.Peak, l.Thr, l.Next = d.Varint(), d.BEFloat32(), d.Uvarint32(), d.Uvarint32()
	if version >= 9 {
		l.Prev, l.Runs = d.BE64(), min(d.Byte(), loopRuns)
	}
	if version >= 10 {
		l.Run, l.RunAt, l.SPeak, l.SThr, l.SNext, l.Sus = d.BE64(), d.Varint(), d.BEFloat32(), d.Uvarint32(), d.Uvarint32(), d.Bool()
	}
}

func getStateV3(d *encoding.Decbuf) StateV4 { return getState(d, 3) }

func getStateV4(d *encoding.Decbuf) StateV4 { return getState(d, 4) }

func getStateV5(d *encoding.Decbuf) StateV4 { return getState(d, 5) }

func getStateV6(d *encoding.Decbuf) StateV4 { return getState(d, 6) }

func getStateV7(d *encoding.Decbuf) StateV4 { return getState(d, 7) }

func getStateV8(d *encoding.Decbuf) StateV4 { return getState(d, 8) }

func getStateV9(d *encoding.Decbuf) StateV4 { return getState(d, 9) }

func getStateV10(d *encoding.Decbuf) StateV4 { return getState(d, 10) }

func getStateV11(d *encoding.Decbuf) StateV4 { return getState(d, 11) }

// getState reads a version 3 to 11 record.
func getState(d *encoding.Decbuf, version int) StateV4 {
	st := StateV4{Ticked: d.Varint(), TickedAt: d.Varint()}
	for _, n := range [...]*uint64{&st.KeysRejected, &st.KeysEvicted, &st.ToolsRejected, &st.ToolsEvicted, &st.AgentsRejected, &st.AgentsEvicted} {
		*n = d.Uvarint()
	}
	minK, minT := minKey, minTool
	switch version {
	case 3:
		minK = minKeyV3
	case 4:
		minK = minKeyV4
	case 5:
		minK = minKeyV5
	case 6:
		minK = minKeyV6
	case 7, 8:
		minK = minKeyV8
	case 9:
		minK = minKeyV9
	case 10:
		minK = minKeyV10
	}
	switch {
	case version < 9:
		minT = minToolV8
	case version < 10:
		minT = minToolV9
	}
	st.Keys = make([]KeyV4, d.Count(minK))
	for i := range st.Keys {
		if d.Err() != nil {
			break
		}
		k := &st.Keys[i]
		k.Agent, k.Tool, k.LastSeen = d.UvarintStr(), d.UvarintStr(), d.Varint()
		getWindow(d, &k.Size, &k.Scales, &k.LoopSize)
		k.Rate.GetStateOf(d, version >= 8)
		k.Loop.get(d, version)
		k.Gap = GapV3{Last: d.Uvarint(), Mean: d.BEFloat32(), Peak: d.BEFloat32(), N: d.Uvarint32(), LastAt: d.Varint(), Dropped: d.Bool()}
		if version >= 4 {
			k.Rise = RiseV4{L: d.BEFloat32(), Thr: d.Uvarint32(), Obs: d.Uvarint32(), Exp: d.BEFloat32(), N: uint16(min(d.Uvarint32(), math.MaxUint16)),
				Level: d.BEFloat32(), Deficit: d.BEFloat32(), Factor: uint16(min(d.Uvarint32(), math.MaxUint16))}
		}
		if version >= 5 {
			k.Task.get(d, version)
		}
	}
	st.Tools = make([]ToolV3, d.Count(minT))
	for i := range st.Tools {
		if d.Err() != nil {
			break
		}
		t := &st.Tools[i]
		t.Tool, t.LastSeen = d.UvarintStr(), d.Varint()
		getWindow(d, &t.Size, &t.Scales, &t.LoopSize)
		t.Rate.GetStateOf(d, version >= 8)
		t.Loop.get(d, version)
		t.Agents.GetState(d)
		t.AgentsP.GetState(d)
		if version >= 9 {
			for i := range t.Inst {
				t.Inst[i] = d.Uvarint32()
			}
			for i := range t.InstPeak {
				t.InstPeak[i] = d.BEFloat32()
			}
		}
	}
	minA := minAgent
	switch {
	case version < 4:
		minA = minAgentV3
	case version < 6:
		minA = minAgentV5
	}
	st.Agents = make([]AgentV4, d.Count(minA))
	for i := range st.Agents {
		a := &st.Agents[i]
		*a = AgentV4{Agent: d.UvarintStr(), LastSeen: d.Varint(), Total: d.Uvarint(), Last: d.Varint()}
		if version >= 4 {
			a.Obs, a.Exp, a.PrevObs, a.PrevExp = d.Uvarint32(), d.BEFloat32(), d.Uvarint32(), d.BEFloat32()
		}
		if version >= 6 {
			a.TaskObs, a.TaskExp, a.PrevTaskObs, a.PrevTaskExp = d.Uvarint32(), d.BEFloat32(), d.Uvarint32(), d.BEFloat32()
		}
	}
	return st
}

// stateDecoders reads every record version this build restores; a new
// version adds its decoder and turns the previous one into an upgrade.
var stateDecoders = encoding.Decoders[StateV4]{3: getStateV3, 4: getStateV4, 5: getStateV5, 6: getStateV6, 7: getStateV7, 8: getStateV8, 9: getStateV9, 10: getStateV10, 11: getStateV11}

// encode writes st as the current version.
func (st *StateV4) encode(b []byte) []byte {
	return encoding.AppendRecord(b, stateVersion, len(st.Keys)*(minKey+64)+len(st.Tools)*(minTool+64)+len(st.Agents)*32, st.put)
}

func loopDTO(l *loopState) LoopV3 {
	return LoopV3{Counter: l.c, Top: l.top, ArmedAt: l.armedAt, Peak: l.peak, Thr: l.thr, Next: l.next, Prev: l.prev, Runs: l.runs,
		Run: l.run, RunAt: l.runAt, SPeak: l.spk, SThr: l.sthr, SNext: l.snext, Sus: l.sus}
}

func (l *LoopV3) state() loopState {
	return loopState{c: l.Counter, top: l.Top, armedAt: l.ArmedAt, peak: l.Peak, thr: l.Thr, next: l.Next, prev: l.Prev, runs: l.Runs,
		run: l.Run, runAt: l.RunAt, spk: l.SPeak, sthr: l.SThr, snext: l.SNext, sus: l.Sus}
}

// MarshalState implements detect.State.
func (d *Detector) MarshalState(b []byte) ([]byte, error) { return detect.MarshalCaptured(d, b) }

// CaptureState implements detect.Capturer. The (agent, tool) keys, by far
// the most, are captured copy-on-write (baseline.Capture): each is settled
// to the capture's tick, as eager ticks would have left it (see Ticks in
// the package doc), just before it is copied, by the consumer when it
// next touches the key or by the Encoder for the rest. Tools and agents
// (few, small) are copied here.
func (d *Detector) CaptureState() (detect.Encoder, error) {
	st, keys, _, _ := d.capture(false)
	return func(b []byte) ([]byte, error) {
		st.Keys = keys.Finish()
		return st.encode(b), nil
	}, nil
}

// capture starts a capture of d (delta: of the keys accessed since the
// previous one; ok false when d's keys were not captured since they were
// built or restored) and returns the ticks since the previous capture.
func (d *Detector) capture(delta bool) (st *StateV4, keys *baseline.StoreCapture[baseline.Key, keyState, KeyV4], since []int64, ok bool) {
	tickedAt, ticks := d.tickedAt, slices.Clone(d.ticks) // the consumer compacts d.ticks in place
	cp := func(_ bool, k baseline.Key, seen int64, ks *keyState) KeyV4 {
		settleTo(ks, tickedAt, ticks) // the copier owns ks now
		return keyV4(k, seen, ks)
	}
	if delta {
		if keys, ok = baseline.CaptureDelta(d.keys, cp); !ok {
			return nil, nil, nil, false
		}
		i, _ := slices.BinarySearch(ticks, d.capTickedAt+1)
		since = ticks[i:]
	} else {
		keys = baseline.Capture(d.keys, cp)
	}
	d.capTickedAt = tickedAt
	st = &StateV4{Ticked: d.ticked, TickedAt: d.tickedAt,
		Tools: make([]ToolV3, 0, d.tools.Len()), Agents: make([]AgentV4, 0, d.agents.Len())}
	st.KeysEvicted, st.KeysRejected = d.keys.Evictions() // Rejected: capacity evictions
	st.ToolsEvicted, st.ToolsRejected = d.tools.Evictions()
	st.AgentsEvicted, st.AgentsRejected = d.agents.Evictions()
	d.tools.RangeSeen(func(k baseline.Key, seen int64, ts *toolState) bool {
		st.Tools = append(st.Tools, ToolV3{Tool: k.Tool, LastSeen: seen, Size: ts.t.rp.Size, Scales: ts.t.rp.N, LoopSize: ts.t.loopSize, Rate: ts.rate, Loop: loopDTO(&ts.loop), Agents: ts.agents, AgentsP: ts.agentsP,
			Inst: ts.inst, InstPeak: ts.instPk})
		return true
	})
	d.agents.RangeSeen(func(k baseline.Key, seen int64, as *agentState) bool {
		st.Agents = append(st.Agents, AgentV4{Agent: k.Agent, LastSeen: seen, Total: as.total, Last: as.last,
			Obs: as.obs, Exp: as.exp, PrevObs: as.pobs, PrevExp: as.pexp,
			TaskObs: as.tobs, TaskExp: as.texp, PrevTaskObs: as.ptobs, PrevTaskExp: as.ptexp})
		return true
	})
	return st, keys, since, true
}

func keyV4(k baseline.Key, seen int64, ks *keyState) KeyV4 {
	g := &ks.gap
	return KeyV4{Agent: k.Agent, Tool: k.Tool, LastSeen: seen, Size: ks.t.rp.Size, Scales: ks.t.rp.N, LoopSize: ks.t.loopSize, Rate: ks.rate, Loop: loopDTO(&ks.loop),
		Gap:  GapV3{Last: g.last, Mean: g.mean, Peak: g.peak, N: g.n, LastAt: g.lastAt, Dropped: g.dropped},
		Rise: riseDTO(ks), Task: taskDTO(&ks.task)}
}

// Incremental snapshots (detect.DeltaCapturer, framed by package
// keydelta). A delta is a StateV4 record holding only the (agent, tool)
// keys accessed since the previous capture (tools, agents and counters
// whole), the tombstones of the keys evicted since, each changed key's
// recency position, and (Extra) the tick watermarks since the previous
// capture: a capture settles every key to its tick, so a key not accessed
// since changed too, and the restore settles it the same way, with the
// same function on the same state (settleTo is the lazy catch-up, equal to
// eager ticks bit for bit). A chain is restored under the configuration
// it was written with: a key whose window, scales or loop window differ
// from the restoring detector's refuses the chain (the base alone is
// restored, the stream replays the rest).

// CaptureBase implements detect.DeltaCapturer: CaptureState, and the
// order record of its keys (call state first).
func (d *Detector) CaptureBase() (state, order detect.Encoder, err error) {
	st, keys, _, _ := d.capture(false)
	var seqs []int64
	done := false
	state = func(b []byte) ([]byte, error) {
		st.Keys, seqs = keys.FinishSeq()
		done = true
		return st.encode(b), nil
	}
	order = func(b []byte) ([]byte, error) {
		if !done {
			return b, fmt.Errorf("frequency state: order encoded before the state")
		}
		return keydelta.EncodeOrder(b, seqs), nil
	}
	return state, order, nil
}

// CaptureDelta implements detect.DeltaCapturer.
func (d *Detector) CaptureDelta() (detect.Encoder, bool, error) {
	st, keys, since, ok := d.capture(true)
	if !ok {
		return nil, false, nil
	}
	tombs := keys.Tombstones()
	return func(b []byte) ([]byte, error) {
		var seqs []int64
		st.Keys, seqs = keys.FinishSeq()
		extra := encoding.Encbuf{}
		extra.PutUvarint(uint64(len(since)))
		for i, t := range since {
			if i == 0 {
				extra.PutVarint(t)
			} else {
				extra.PutUvarint(uint64(t - since[i-1]))
			}
		}
		return keydelta.Encode(b, &keydelta.Delta{State: st.encode(nil), Tombs: tombs, Seqs: seqs, Extra: extra.Get()}), nil
	}, true, nil
}

func decodeTicks(b []byte) ([]int64, error) {
	d := encoding.NewDecbuf(b)
	n := d.Count(1)
	ticks := make([]int64, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		if i == 0 {
			ticks = append(ticks, d.Varint())
			continue
		}
		step := d.Uvarint()
		if step == 0 || step > 1<<40 {
			d.Fail("tick step %d", step)
		}
		ticks = append(ticks, ticks[i-1]+int64(step))
	}
	if err := d.Done(); err != nil {
		return nil, err
	}
	return ticks, d.Err()
}

// RestoreChain implements detect.DeltaCapturer.
func (d *Detector) RestoreChain(base, order []byte, deltas [][]byte) error {
	st, _, err := stateDecoders.Decode("frequency state", base)
	if err != nil {
		return err
	}
	if len(deltas) == 0 {
		return d.restore(&st)
	}
	seqs, err := keydelta.DecodeOrder("frequency state", order)
	if err != nil {
		return err
	}
	keyOf := func(k *KeyV4) baseline.Key { return baseline.Key{Agent: k.Agent, Tool: k.Tool} }
	ch, err := baseline.NewChain(st.Keys, seqs, keyOf)
	if err != nil {
		return fmt.Errorf("frequency state: %w", err)
	}
	for i, data := range deltas {
		dd, err := keydelta.Decode("frequency state", data)
		if err != nil {
			return fmt.Errorf("delta %d: %w", i+1, err)
		}
		ticks, err := decodeTicks(dd.Extra)
		if err != nil {
			return fmt.Errorf("frequency state delta %d: ticks: %w", i+1, err)
		}
		prev := st.TickedAt
		if prev == 0 {
			prev = st.Ticked
		}
		next, _, err := stateDecoders.Decode("frequency state delta", dd.State)
		if err != nil {
			return fmt.Errorf("delta %d: %w", i+1, err)
		}
		// The keys not in the delta: settled to its tick as its capture
		// settled them (the ones in it replace theirs below).
		dirty := make(map[baseline.Key]bool, len(next.Keys))
		for j := range next.Keys {
			dirty[keyOf(&next.Keys[j])] = true
		}
		if err := ch.Each(func(k *KeyV4) error {
			if dirty[keyOf(k)] {
				return nil
			}
			return d.settleRecord(k, prev, next.TickedAt, ticks)
		}); err != nil {
			return fmt.Errorf("frequency state delta %d: %w", i+1, err)
		}
		if err := ch.Apply(dd.Tombs, next.Keys, dd.Seqs); err != nil {
			return fmt.Errorf("frequency state delta %d: %w", i+1, err)
		}
		st = next
	}
	if st.Keys, _, err = ch.Result(); err != nil {
		return fmt.Errorf("frequency state: %w", err)
	}
	return d.restore(&st)
}

// settleRecord settles key record k, caught up to tick prev, to tickedAt
// (whose ticks are ticks) under d's configuration, which must be the one
// k was written under.
func (d *Detector) settleRecord(k *KeyV4, prev, tickedAt int64, ticks []int64) error {
	if err := k.Rate.Check(); err != nil {
		return fmt.Errorf("key %q/%q: %w", k.Agent, k.Tool, err)
	}
	ks := keyState{rate: k.Rate, loop: k.Loop.state(), tick: prev, task: k.Task.state()}
	k.Rise.set(&ks)
	ks.t = d.tn.For(k.Agent, k.Tool)
	if !ratedetect.SameWindow(&ks.t.rp, k.Size, k.Scales) || ks.t.loopSize != k.LoopSize {
		return fmt.Errorf("key %q/%q: written under another window configuration", k.Agent, k.Tool)
	}
	settleTo(&ks, tickedAt, ticks)
	k.Rate, k.Loop = ks.rate, loopDTO(&ks.loop)
	k.Rise, k.Task = riseDTO(&ks), taskDTO(&ks.task)
	return nil
}

// UnmarshalState implements detect.State. Keys are bound to the configs of
// d's current params. On error d is unchanged.
func (d *Detector) UnmarshalState(data []byte) error {
	st, _, err := stateDecoders.Decode("frequency state", data)
	if err != nil {
		return err
	}
	return d.restore(&st)
}

// restore replaces d's state with st; on error d is unchanged.
func (d *Detector) restore(st *StateV4) error {
	keys, tools := d.keys.Empty(), d.tools.Empty()
	for i := range st.Keys {
		k := &st.Keys[i]
		bk := baseline.Key{Agent: k.Agent, Tool: k.Tool}
		if keys.Peek(bk) != nil {
			return fmt.Errorf("frequency state: duplicate key %q/%q", k.Agent, k.Tool)
		}
		if err := k.Rate.Check(); err != nil {
			return fmt.Errorf("frequency state: key %q/%q: %w", k.Agent, k.Tool, err)
		}
		g, rs := &k.Gap, &k.Rise
		if !(rs.L >= 0 && rs.L <= math.MaxFloat32 && rs.Exp >= 0 && rs.Exp <= math.MaxFloat32) {
			return fmt.Errorf("frequency state: key %q/%q: sustained-rise statistic %v, expected %v: must be finite and non-negative", k.Agent, k.Tool, rs.L, rs.Exp)
		}
		if !(rs.Level >= 0 && rs.Level <= math.MaxFloat32 && rs.Deficit >= 0 && rs.Deficit <= math.MaxFloat32) {
			return fmt.Errorf("frequency state: key %q/%q: idle level %v, deficit %v: must be finite and non-negative", k.Agent, k.Tool, rs.Level, rs.Deficit)
		}
		if err := k.Task.check(); err != nil {
			return fmt.Errorf("frequency state: key %q/%q: %w", k.Agent, k.Tool, err)
		}
		ks := keys.Put(bk, k.LastSeen, keyState{rate: k.Rate, loop: k.Loop.state(), gen: d.tn.Stamp(), task: k.Task.state(),
			gap: gapState{last: g.Last, mean: g.Mean, peak: g.Peak, n: g.N, lastAt: g.LastAt, dropped: g.Dropped}})
		rs.set(ks)
		ks.t = d.tn.For(k.Agent, k.Tool)
		if !ratedetect.SameWindow(&ks.t.rp, k.Size, k.Scales) {
			ks.rate = baseline.Rate{}
			ks.riseEnd()
			ks.idle = idleState{}
			ks.task = taskState{}
		}
		if ks.t.loopSize != k.LoopSize {
			ks.loop = loopState{}
		}
	}
	for i := range st.Tools {
		t := &st.Tools[i]
		bk := baseline.Key{Tool: t.Tool}
		if tools.Peek(bk) != nil {
			return fmt.Errorf("frequency state: duplicate tool %q", t.Tool)
		}
		if err := t.Rate.Check(); err != nil {
			return fmt.Errorf("frequency state: tool %q: %w", t.Tool, err)
		}
		for _, v := range t.InstPeak {
			if !(v >= 0 && v <= math.MaxFloat32) {
				return fmt.Errorf("frequency state: tool %q: per-key peak %v: must be finite and non-negative", t.Tool, v)
			}
		}
		ts := tools.Put(bk, t.LastSeen, toolState{keyState: keyState{rate: t.Rate, loop: t.Loop.state(), gen: d.tn.Stamp()}, agents: t.Agents, agentsP: t.AgentsP,
			inst: t.Inst, instPk: t.InstPeak})
		ts.t = d.tn.For("", t.Tool)
		if !ratedetect.SameWindow(&ts.t.rp, t.Size, t.Scales) {
			ts.rate, ts.agents, ts.agentsP = baseline.Rate{}, baseline.Counter{}, baseline.Profile{}
			ts.inst, ts.instPk = [baseline.MaxScales]uint32{}, [baseline.MaxScales]float32{}
		}
		if ts.t.loopSize != t.LoopSize {
			ts.loop = loopState{}
		}
	}
	agents := d.agents.Empty()
	for i := range st.Agents {
		a := &st.Agents[i]
		bk := baseline.Key{Agent: a.Agent}
		if agents.Peek(bk) != nil {
			return fmt.Errorf("frequency state: duplicate agent %q", a.Agent)
		}
		if !(a.Exp >= 0 && a.Exp <= math.MaxFloat32 && a.PrevExp >= 0 && a.PrevExp <= math.MaxFloat32 &&
			a.TaskExp >= 0 && a.TaskExp <= math.MaxFloat32 && a.PrevTaskExp >= 0 && a.PrevTaskExp <= math.MaxFloat32) {
			return fmt.Errorf("frequency state: agent %q: expected calls %v, %v, tasks %v, %v: must be finite and non-negative", a.Agent, a.Exp, a.PrevExp, a.TaskExp, a.PrevTaskExp)
		}
		d.agentSeq++
		agents.Put(bk, a.LastSeen, agentState{total: a.Total, last: a.Last, id: d.agentSeq,
			obs: a.Obs, exp: a.Exp, pobs: a.PrevObs, pexp: a.PrevExp,
			tobs: a.TaskObs, texp: a.TaskExp, ptobs: a.PrevTaskObs, ptexp: a.PrevTaskExp})
	}
	agents.SetCounters(st.AgentsEvicted, st.AgentsRejected)
	keys.SetCounters(st.KeysEvicted, st.KeysRejected)
	tools.SetCounters(st.ToolsEvicted, st.ToolsRejected)
	d.keys, d.tools, d.agents, d.ticked, d.tickedAt = keys, tools, agents, st.Ticked, st.TickedAt
	if d.tickedAt == 0 {
		d.tickedAt = st.Ticked
	}
	clear(d.recent) // no refs into the old store kept alive
	d.ticks, d.recent = d.ticks[:0], d.recent[:0]
	d.tn.Swept()
	// Rebuild the lazy-tick indexes: keys are settled to TickedAt.
	agents.RangeSeen(func(k baseline.Key, _ int64, _ *agentState) bool {
		d.recent = append(d.recent, recentAgent{key: k})
		return true
	})
	keys.RangeSeen(func(k baseline.Key, _ int64, ks *keyState) bool {
		ks.tick = d.tickedAt
		if as := agents.Peek(baseline.Key{Agent: k.Agent}); as != nil {
			d.scheduleDrop(k, ks, as)
		}
		return true
	})
	return nil
}

var (
	_ detect.State         = (*Detector)(nil)
	_ detect.Capturer      = (*Detector)(nil)
	_ detect.DeltaCapturer = (*Detector)(nil)
)
