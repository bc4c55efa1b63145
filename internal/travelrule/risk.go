package travelrule

import (
	"fmt"
	"strings"
)

// RiskLevel is the derived risk of a verification, ordered none < low < medium < high < severe.
type RiskLevel string

// Risk levels.
const (
	RiskNone   RiskLevel = "none"
	RiskLow    RiskLevel = "low"
	RiskMedium RiskLevel = "medium"
	RiskHigh   RiskLevel = "high"
	RiskSevere RiskLevel = "severe"
)

var riskOrder = []RiskLevel{RiskNone, RiskLow, RiskMedium, RiskHigh, RiskSevere}

// rank orders levels; an unknown level ranks -1.
func (l RiskLevel) rank() int {
	for i, r := range riskOrder {
		if r == l {
			return i
		}
	}
	return -1
}

// ParseRiskLevel parses a level name (case-insensitive).
func ParseRiskLevel(s string) (RiskLevel, error) {
	l := RiskLevel(strings.ToLower(strings.TrimSpace(s)))
	if l.rank() < 0 {
		return "", fmt.Errorf("travelrule: unknown risk level %q (want none, low, medium, high or severe)", s)
	}
	return l, nil
}

func maxRisk(a, b RiskLevel) RiskLevel {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// RiskPolicy derives a verification's risk_level from its screening results. The level is the
// maximum over every input below, so a later result (a TRANSFER assessment after an ATTEMPT,
// a new KYT alert) can only raise it, and the arrival order of callbacks does not matter.
//
// Inputs and default mapping (spec section 12, a suggestion for the compliance team; every
// entry is configurable):
//
//   - Each KYT alert: AlertLevels[alertLevel] (LOW→low, MEDIUM→medium, HIGH→high,
//     SEVERE→severe). An INDIRECT exposure is lowered by IndirectDiscount levels (default 0:
//     never lowered), but never below low. An alert level not in the map counts as Unresolved.
//   - Each KYT result: PROCESSED with alertCount 0 → none; PROCESSED with alertCount > 0 but
//     no alert received → Unresolved; any other status (REGISTERED, CHECKING, ERROR) →
//     Unresolved, because a non-final or failed screening must never clear.
//   - Each World-Check One result: PROCESSED without matchStrength → none; PROCESSED with a
//     match → MatchStrengths[matchStrength] (EXACT→high, STRONG→high, MEDIUM→medium,
//     WEAK→low; unlisted → Unresolved); any other status → Unresolved.
//   - The verification reason: Reasons[reason] (BLACKLISTED→severe).
//
// Unresolved defaults to medium. A verification with no screening and no listed reason is none.
type RiskPolicy struct {
	AlertLevels      map[string]RiskLevel
	IndirectDiscount int
	MatchStrengths   map[string]RiskLevel
	Reasons          map[string]RiskLevel
	Unresolved       RiskLevel
}

// DefaultRiskPolicy returns the policy described on RiskPolicy.
func DefaultRiskPolicy() RiskPolicy {
	return RiskPolicy{
		AlertLevels: map[string]RiskLevel{
			"LOW": RiskLow, "MEDIUM": RiskMedium, "HIGH": RiskHigh, "SEVERE": RiskSevere,
		},
		MatchStrengths: map[string]RiskLevel{
			"EXACT": RiskHigh, "STRONG": RiskHigh, "MEDIUM": RiskMedium, "WEAK": RiskLow,
		},
		Reasons:    map[string]RiskLevel{"BLACKLISTED": RiskSevere},
		Unresolved: RiskMedium,
	}
}

// Validate reports a policy that names an unknown level or an impossible discount.
func (p RiskPolicy) Validate() error {
	check := func(what string, m map[string]RiskLevel) error {
		for k, l := range m {
			if l.rank() < 0 {
				return fmt.Errorf("travelrule: risk policy %s[%s]: unknown level %q", what, k, l)
			}
		}
		return nil
	}
	if err := check("alert_levels", p.AlertLevels); err != nil {
		return err
	}
	if err := check("match_strengths", p.MatchStrengths); err != nil {
		return err
	}
	if err := check("reasons", p.Reasons); err != nil {
		return err
	}
	if p.Unresolved.rank() < 0 {
		return fmt.Errorf("travelrule: risk policy unresolved: unknown level %q", p.Unresolved)
	}
	if p.IndirectDiscount < 0 || p.IndirectDiscount > 3 {
		return fmt.Errorf("travelrule: risk policy indirect_discount %d: want 0-3", p.IndirectDiscount)
	}
	return nil
}

func lookup(m map[string]RiskLevel, k string) (RiskLevel, bool) {
	l, ok := m[strings.ToUpper(strings.TrimSpace(k))]
	return l, ok
}

// Assess returns the risk level of v under p.
func (p RiskPolicy) Assess(v Verification) RiskLevel {
	level := RiskNone
	if l, ok := lookup(p.Reasons, v.Reason); ok {
		level = maxRisk(level, l)
	}
	for _, a := range v.Alerts {
		l, ok := lookup(p.AlertLevels, string(a.AlertLevel))
		if !ok {
			l = p.Unresolved
		} else if strings.EqualFold(string(a.ExposureType), "INDIRECT") && p.IndirectDiscount > 0 {
			r := max(l.rank()-p.IndirectDiscount, RiskLow.rank())
			l = riskOrder[min(r, l.rank())]
		}
		level = maxRisk(level, l)
	}
	for _, k := range v.KYT {
		switch {
		case !strings.EqualFold(string(k.Status), "PROCESSED"):
			level = maxRisk(level, p.Unresolved)
		case k.AlertCount > 0 && len(v.Alerts) == 0:
			level = maxRisk(level, p.Unresolved)
		}
	}
	for _, w := range v.WCO {
		switch {
		case !strings.EqualFold(string(w.Status), "PROCESSED"):
			level = maxRisk(level, p.Unresolved)
		case strings.TrimSpace(string(w.MatchStrength)) == "":
		default:
			l, ok := lookup(p.MatchStrengths, string(w.MatchStrength))
			if !ok {
				l = p.Unresolved
			}
			level = maxRisk(level, l)
		}
	}
	return level
}

// NewRiskPolicy returns the default policy with the given entries overlaid (keys are
// upper-cased; empty maps and an empty unresolved keep the defaults), validated. It takes
// plain strings so configuration can be handed over as read.
func NewRiskPolicy(alertLevels, matchStrengths, reasons map[string]string, unresolved string, indirectDiscount int) (RiskPolicy, error) {
	p := DefaultRiskPolicy()
	overlay := func(dst map[string]RiskLevel, src map[string]string, what string) error {
		for k, v := range src {
			l, err := ParseRiskLevel(v)
			if err != nil {
				return fmt.Errorf("travelrule: risk policy %s[%s]: %w", what, k, err)
			}
			dst[strings.ToUpper(strings.TrimSpace(k))] = l
		}
		return nil
	}
	if err := overlay(p.AlertLevels, alertLevels, "alert_levels"); err != nil {
		return p, err
	}
	if err := overlay(p.MatchStrengths, matchStrengths, "match_strengths"); err != nil {
		return p, err
	}
	if err := overlay(p.Reasons, reasons, "reasons"); err != nil {
		return p, err
	}
	if unresolved != "" {
		l, err := ParseRiskLevel(unresolved)
		if err != nil {
			return p, err
		}
		p.Unresolved = l
	}
	p.IndirectDiscount = indirectDiscount
	return p, p.Validate()
}
