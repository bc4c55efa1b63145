package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/vaspgate/vaspgate/internal/config"
	"github.com/vaspgate/vaspgate/internal/seal"
	"github.com/vaspgate/vaspgate/internal/store"
)

// fillDevSecrets gives an unconfigured installation what it needs to run — an admin token,
// an encryption key, a Stellar signing key, an issuer for the development asset — generated once and kept in the database so
// restarts keep them (and data sealed under the key stays readable). It prints, every start,
// that they are for development only and how to set real ones; the admin token itself only
// when it is generated. Production refuses to start without all three (config's
// ProductionProblems) and never reaches this code.
func fillDevSecrets(ctx context.Context, db *store.DB, cfg *config.Config, notice io.Writer) error {
	type secret struct {
		dst      *string
		metaKey  string
		env      string
		make     func() (string, error)
		howToNew string
		show     bool
	}
	secrets := []secret{
		{&cfg.AdminToken, "dev_admin_token", "VASPGATE_ADMIN_TOKEN", randomToken, "openssl rand -hex 32", true},
		{&cfg.EncryptionKey, "dev_encryption_key", "VASPGATE_ENCRYPTION_KEY", func() (string, error) { return seal.NewKey(), nil }, "openssl rand -base64 32", false},
		{&cfg.Stellar.SigningSeed, "dev_signing_seed", "VASPGATE_SIGNING_SEED", randomSeed, "vaspgate keys generate", false},
	}
	var lines []string
	for _, s := range secrets {
		if *s.dst != "" {
			continue
		}
		v, created, err := db.MetaOrCreate(ctx, s.metaKey, s.make)
		if err != nil {
			return fmt.Errorf("development secrets: %w", err)
		}
		*s.dst = v
		state := "stored"
		if created {
			state = "generated"
		}
		line := fmt.Sprintf("  %-24s %s in the database (set %s; make one with: %s)", s.env, state, s.env, s.howToNew)
		switch {
		case s.show && created:
			line += "\n  " + strings.Repeat(" ", 24) + " admin token: " + v
		case s.show:
			// Printed once, when generated: start-up output ends up in log collectors.
			line += "\n  " + strings.Repeat(" ", 24) + " (the admin token was printed when it was generated; it is the meta row dev_admin_token)"
		}
		if s.env == "VASPGATE_SIGNING_SEED" {
			if kp, err := keypair.ParseFull(v); err == nil {
				line += "\n  " + strings.Repeat(" ", 24) + " SIGNING_KEY: " + kp.Address()
			}
		}
		lines = append(lines, line)
	}
	if cfg.NeedsDevAssetIssuer() {
		// The development asset is a Stellar asset like any other: stellar:USDC:<issuer>.
		// Its issuer's seed is kept, so a developer can issue the asset on testnet.
		seed, created, err := db.MetaOrCreate(ctx, "dev_asset_issuer_seed", randomSeed)
		if err != nil {
			return fmt.Errorf("development asset issuer: %w", err)
		}
		kp, err := keypair.ParseFull(seed)
		if err != nil {
			return fmt.Errorf("development asset issuer: %w", err)
		}
		cfg.FillDevAssetIssuer(kp.Address())
		state := "stored"
		if created {
			state = "generated"
		}
		lines = append(lines, fmt.Sprintf("  %-24s %s in the database (configure transfer.assets and stellar.toml.currencies for a real asset)\n  %s issuer: %s",
			config.DevAssetCode+" issuer", state, strings.Repeat(" ", 24), kp.Address()))
	}
	if len(lines) > 0 && notice != nil {
		fmt.Fprintf(notice, "\n*** DEVELOPMENT SECRETS — NOT FOR PRODUCTION ***\n"+
			"vaspgate made these because none were configured. Anyone with the database has them.\n"+
			"For production set each variable below (see docs/configuration.md):\n%s\n\n",
			strings.Join(lines, "\n"))
	}
	return nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func randomSeed() (string, error) {
	kp, err := keypair.Random()
	if err != nil {
		return "", err
	}
	return kp.Seed(), nil
}
