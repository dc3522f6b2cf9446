package metrics

// sharedScrapes counts the scrapes that shared another's read.
func sharedScrapes(e *Exporter) int64 { return int64(e.shared.Load()) }

// busySlots counts the scrapes being answered.
func busySlots(e *Exporter) int { return len(e.slots) }
