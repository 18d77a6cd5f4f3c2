package benchmarks

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// barProgress shows a progress bar on a terminal.
type barProgress struct {
	out *os.File
	bar *progressbar.ProgressBar
}

var _ Progress = (*barProgress)(nil)

// TerminalProgress returns a progress bar writing to f when f is a
// terminal, and nil (no progress output) otherwise.
func TerminalProgress(f *os.File) Progress {
	if f == nil || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &barProgress{out: f}
}

func (p *barProgress) Start(desc string, total int) {
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.out),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("req"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *barProgress) Done() {
	if p.bar != nil {
		_ = p.bar.Add(1) // drawing errors only affect the terminal
	}
}

func (p *barProgress) Finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
