// Package group makes several daemons one partitioned consumer group over
// the records stream, so detection scales out with the number of members.
//
// Partitioning is the server's: a subject transform on the stream
// (EnsureStream) stores <prefix>.<environment>.<agent_id> as
// <prefix>.<environment>.<agent_id>.<partition>, the partition being the
// FNV-1a hash of the agent_id token modulo group.partitions (Of). Every
// (agent, tool) key therefore lives in exactly one partition. Each
// partition has its own durable pull consumer filtered on its token
// (Filter; one durable per owner, named by the app), and on its owner its own pipeline, applied position and
// snapshot, so it can move between members as a unit.
//
// Ownership: members keep a heartbeat key in a JetStream KV bucket whose
// max age is group.lease_ttl; every heartbeat each member lists the live
// members and computes, by rendezvous hashing (Owner), which partitions
// are its own. It takes a partition by creating its lease key
// (owner.<p>, create-if-absent) and keeps it by rewriting it at its last
// revision; a partition that should move is stopped gracefully (final
// snapshot) and its lease deleted, so the new owner, which restores that
// snapshot, can take it. A killed member's keys expire after lease_ttl and
// its partitions move to the others, which resume after each partition's
// last snapshot (records applied since are applied again: their alerts
// have the same ids, deduplicated by the notification log).
//
// Tool-level baselines (share.go): keys are exact per partition, but
// what a detector learns per tool comes from the partition's agents only.
// Every share_interval each member puts its partitions' mergeable tool
// sketches (t-digest bodies, accepted shape hashes; detect.ToolSharer)
// into a KV bucket keyed by partition and tool, and gives each partition
// a view merged from every other partition's latest ones (Sharer.Others),
// so a partition's contribution counts once wherever it runs and values
// not rewritten for share_max_age drop out. Views are at most two
// intervals plus propagation behind (docs/design.md §3a).
//
// Why not orbit.go/pcgroups (v0.2.2): its static groups have a fixed
// member list and one consumer per member covering all that member's
// partitions (one ack floor for several partitions), and fail over only
// between instances of the same member name (priority-group pinning); a
// dead member's partitions do not move to the other members. Its elastic
// groups re-source the stream into a work-queue stream, where an acked
// record is deleted, and change membership only administratively. Here a
// partition must move automatically and resume from its own snapshot's
// sequence, which needs one durable per partition created at that
// sequence (a deliver policy cannot change on an existing consumer) over
// records kept after their ack. Priority-group pinning is not used
// either: the lease decides the owner, and the new owner deletes the
// previous owners' durables, which also stops a stalled previous owner.
package group
