package ingest

// AppendRecordSubject appends the subject a producer publishes a record on,
// <prefix>.<environment>.<agent_id>, each token made valid by
// AppendSubjectToken with "_" for an empty one. The record's identity comes
// from its payload, never from its subject, so this only affects routing.
func AppendRecordSubject(dst []byte, prefix, environment, agentID string) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, '.')
	dst = AppendSubjectToken(dst, environment, "_")
	dst = append(dst, '.')
	return AppendSubjectToken(dst, agentID, "_")
}

// AppendSubjectToken appends s (fallback when s is empty) as one NATS
// subject token: '.', the wildcards '*' and '>' and whitespace become '_'.
func AppendSubjectToken(dst []byte, s, fallback string) []byte {
	if s == "" {
		s = fallback
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '.', '*', '>', ' ', '\t', '\r', '\n', '\f', '\v':
			dst = append(dst, '_')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
