// Package interop runs real Stellar wallet software against vaspgate: the node script in
// this directory (wallet.mjs, @stellar/typescript-wallet-sdk pinned in package.json) talks
// to a vaspgate server started by the tests. Node and npm are required; a missing node is a
// test failure, never a skip.
package interop
