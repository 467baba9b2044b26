package chain

// StateDecoders lets the external tests decode a record to check its
// values.
var StateDecoders = stateDecoders
