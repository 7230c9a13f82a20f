package metrics

// PutCredentials writes the credential metrics of one step of a Lambda:
// refreshes (CredentialRefreshes) of the export credentials since the last
// report, if any, and one TokenRejected when Optimizely rejected the token.
// It is the one place these two metrics are emitted.
func (r *Recorder) PutCredentials(refreshes int64, tokenRejected bool) error {
	var vals []Value
	if refreshes > 0 {
		vals = append(vals, Value{Name: CredentialRefreshes, Unit: Count, Value: float64(refreshes)})
	}
	if tokenRejected {
		vals = append(vals, Value{Name: TokenRejected, Unit: Count, Value: 1})
	}
	return r.Put(nil, vals...)
}
