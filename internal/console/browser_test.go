package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vaspgate/vaspgate/internal/kyc"
	"github.com/vaspgate/vaspgate/internal/store"
	"github.com/vaspgate/vaspgate/internal/testkit/wait"
	"github.com/vaspgate/vaspgate/internal/transfer"
	"github.com/vaspgate/vaspgate/internal/wallet"
)

// screenshotDir is where the browser test leaves a picture of every page, at desktop and
// narrow width (README shows one).
const screenshotDir = "../../docs/console"

// chromium finds Debian's Chromium (scripts/test installs it); a machine without it fails
// the test: a browser test that skips proves nothing.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VASPGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed: run scripts/test (it installs Debian's chromium) or set VASPGATE_CHROMIUM")
	return ""
}

// browser starts a fresh headless Chromium with its own profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// run runs browser steps with a deadline, failing the test with what was being done.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	value(t, ctx, what, chromedp.Steps(steps...))
}

// value runs one browser action that answers something, with a deadline.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("%s (at %s): %v\npage: %.600s", what, loc, err, text)
	}
	return v
}

// eval runs a script in the page (DevTools evaluation, which the page's CSP does not bind).
func eval(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tgt *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](js)(ctx, tgt)
		return chromedp.Void{}, err
	}
}

// shoot saves the current page at desktop and narrow width.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, size := range []struct {
		suffix string
		w, h   int64
	}{{"desktop", 1280, 900}, {"narrow", 390, 844}} {
		run(t, ctx, "resize for "+name, chromedp.EmulateViewport(size.w, size.h))
		png := value(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(screenshotDir, name+"-"+size.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, "restore viewport", chromedp.EmulateViewport(1280, 900))
}

// TestBrowser drives the console in headless Chromium as an operator would: sign in, find
// the dead letter a failing wallet left, replay it and watch it delivered, decide a customer
// and check the wallet got the signed SEP-12 callback; then what must be refused is.
func TestBrowser(t *testing.T) {
	t.Parallel()
	s := start(t, store.Postgres)
	ctx := browser(t)
	base := s.admin

	// A wallet whose server is down: the customer's PROCESSING callback becomes a dead letter.
	id, dead := deadLetter(t, s)
	extras := s.seedPages(t, id)

	// Not signed in: every page sends the browser to sign in, then back.
	run(t, ctx, "open the console", chromedp.Navigate(base+"/console/deliveries?status=failed"), chromedp.WaitVisible(chromedp.ID("#token")))
	shoot(t, ctx, "signin")
	run(t, ctx, "sign in as admin",
		chromedp.SendKeys(chromedp.ID("#token"), adminToken),
		chromedp.Click(chromedp.ID("#signin")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-id="`+dead.ID+`"]`)))
	shoot(t, ctx, "deliveries")

	// Replay the dead letter once the wallet is back, and watch it delivered (the page
	// refreshes itself while the delivery is open).
	s.wallet.SetDown(false)
	run(t, ctx, "replay",
		chromedp.Click(chromedp.CSS(`tr[data-id="`+dead.ID+`"] a`)),
		chromedp.WaitVisible(chromedp.ID("#replay")),
		chromedp.Click(chromedp.ID("#replay")),
		chromedp.WaitVisible(chromedp.ID("#notice")),
		chromedp.WaitVisible(chromedp.CSS("#delivery-status .badge.good")))
	status := value(t, ctx, "read status", chromedp.Text(chromedp.ID("#delivery-status")))
	if !strings.Contains(status, "delivered") {
		t.Fatalf("delivery status after replay = %q", status)
	}
	got := s.wallet.WaitContaining(`"id":"`+id+`"`, 30*time.Second)
	if !strings.Contains(string(got.Body), `"status":"PROCESSING"`) {
		t.Fatalf("replayed callback = %s", got.Body)
	}
	shoot(t, ctx, "delivery")

	// Decide the customer: the wallet receives the signed SEP-12 callback.
	run(t, ctx, "decide",
		chromedp.Navigate(base+"/console/customers/"+id),
		chromedp.WaitVisible(chromedp.ID("#decide")),
		chromedp.Click(chromedp.CSS(`#decide input[value="ACCEPTED"]`)),
		chromedp.SendKeys(chromedp.ID("#reason"), "documents checked"),
		chromedp.Click(chromedp.ID("#decide-submit")),
		chromedp.WaitVisible(chromedp.ID("#notice")))
	status = value(t, ctx, "read status", chromedp.Text(chromedp.ID("#customer-status")))
	if !strings.Contains(status, "ACCEPTED") {
		t.Fatalf("customer status after the decision = %q", status)
	}
	// The wallet took it only if signed with the anchor's key (testkit.Wallet checks each).
	s.wallet.WaitContaining(`"status":"ACCEPTED"`, 30*time.Second)
	run(t, ctx, "reveal", chromedp.Click(chromedp.ID("#reveal-first_name")), chromedp.WaitVisible(chromedp.ID("#value-first_name")))
	shoot(t, ctx, "customer")

	// Every other page, for the pictures.
	for _, p := range []struct{ name, path, ready string }{
		{"overview", "/console/", "#count-failed"},
		{"endpoint", "/console/endpoints/" + dead.EndpointID + "?since=2020-01-01T00:00", "#replay-count"},
		{"customers", "/console/customers", "#customers"},
		{"transactions", "/console/transactions", "#transactions"},
		{"transaction", "/console/transactions/" + extras.transaction, "#timeline"},
		{"travel-rule", "/console/travel-rule", "#verifications"},
		{"verification", "/console/travel-rule/" + extras.verification, "#tr-callbacks"},
		{"quarantine", "/console/travel-rule/quarantine", "#quarantine"},
		{"audit", "/console/audit", "#audit"},
	} {
		run(t, ctx, "open "+p.name, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
		shoot(t, ctx, p.name)
	}

	// A form without its CSRF token is refused, and nothing changes.
	run(t, ctx, "disable without the CSRF token",
		chromedp.Navigate(base+"/console/endpoints/"+dead.EndpointID),
		chromedp.WaitVisible(chromedp.ID("#disable")),
		eval(`document.querySelector('form[action$="/disable"] input[name=csrf]').remove()`),
		chromedp.Click(chromedp.ID("#disable")),
		chromedp.WaitVisible(chromedp.ID("#error")))
	msg := value(t, ctx, "read the error", chromedp.Text(chromedp.ID("#error")))
	if !strings.Contains(msg, "expired") {
		t.Fatalf("error page says %q", msg)
	}
	if ep, err := s.app.Delivery.Endpoint(context.Background(), dead.EndpointID); err != nil || ep.State != "enabled" {
		t.Fatalf("endpoint after a refused disable: %q (%v)", ep.State, err)
	}

	// A viewer sees no action, and an action forged with the viewer's own token is refused.
	run(t, ctx, "sign out and in as viewer",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.ID("#who")),
		chromedp.Submit(chromedp.CSS(`form.who`)),
		chromedp.WaitVisible(chromedp.ID("#token")),
		chromedp.SendKeys(chromedp.ID("#token"), viewerToken),
		chromedp.Click(chromedp.ID("#signin")),
		chromedp.WaitVisible(chromedp.ID("#count-failed")),
		chromedp.Navigate(base+"/console/customers/"+id),
		chromedp.WaitVisible(chromedp.ID("#fields")))
	forms := value(t, ctx, "count action forms", chromedp.Evaluate[int](`document.querySelectorAll('#decide, form[action$="/reveal"]').length`))
	if forms != 0 {
		t.Fatalf("the viewer sees %d action forms", forms)
	}
	run(t, ctx, "forge a replay as viewer",
		eval(`(function(){
			var f = document.createElement('form'); f.method = 'post'; f.action = '/console/deliveries/`+dead.ID+`/replay';
			var i = document.createElement('input'); i.name = 'csrf'; i.value = document.querySelector('form.who input[name=csrf]').value;
			f.appendChild(i); document.body.appendChild(f); f.submit(); return true; })()`),
		chromedp.WaitVisible(chromedp.ID("#error")))
	msg = value(t, ctx, "read the error", chromedp.Text(chromedp.ID("#error")))
	if !strings.Contains(msg, "viewer") {
		t.Fatalf("forged viewer replay: %q", msg)
	}

	// A session idle past the timeout is sent back to sign in.
	if _, err := s.app.DB.ExecContext(context.Background(), `UPDATE console_sessions SET seen_at = seen_at - ? WHERE operator = 'vera'`,
		int64(31*60*1_000_000)); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "stale session", chromedp.Navigate(base+"/console/deliveries"), chromedp.WaitVisible(chromedp.ID("#token")))
	loc := value(t, ctx, "read location", chromedp.Location())
	if !strings.Contains(loc, "/console/signin?next=") {
		t.Fatalf("stale session landed on %s", loc)
	}
}

type pageIDs struct{ transaction, verification string }

// seedPages gives the transaction and Travel Rule pages something to show: a SEP-6
// deposit of the customer that moved once, enclave callbacks (the spec's fixtures) and one
// the receiver cannot parse (quarantined).
func (s *stack) seedPages(t *testing.T, customerID string) pageIDs {
	t.Helper()
	ctx := context.Background()
	owner, _, err := s.app.KYC.OwnerOf(ctx, customerID)
	if err != nil {
		t.Fatal(err)
	}
	tr := &transfer.Transaction{Kind: transfer.KindDeposit, Status: transfer.StatusIncomplete, AssetCode: "USDC",
		Owner: wallet.Identity{Account: owner.Account, Memo: owner.Memo}, CustomerID: customerID, CustomerType: "sep6",
		AmountIn: &transfer.Amount{Amount: "100", Asset: "iso4217:USD"}, OnChangeCallback: s.wallet.URL + "/sep6"}
	if err := s.app.Transfer.Create(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.Transfer.Change(ctx, tr.ID, func(x *transfer.Transaction) error {
		x.Status = transfer.StatusPendingUserTransferStart
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var uuid string
	for _, f := range []string{"tx_report.json", "verification_result_denied.json", "chainalysis_kyt_result.json"} {
		b, err := os.ReadFile(filepath.Join("../../cmd/vaspgate/bench/travelrulebench/fixtures", f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.app.TravelRule.Accept(ctx, b, false, int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	bad := []byte(`{"callbackType":"SOMETHING_NEW","verificationUuid":42}`)
	if _, err := s.app.TravelRule.Accept(ctx, bad, false, int64(len(bad))); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the verification is derived", func() bool {
		list, _, err := s.app.TravelRule.ListVerifications(ctx, travelruleFilter())
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 0 {
			uuid = list[0].VerificationUUID
		}
		return uuid != ""
	})
	_ = kyc.StatusAccepted
	return pageIDs{transaction: tr.ID, verification: uuid}
}
