package jenkins

import (
	"strconv"
	"time"
)

// TimeSpan renders d as Jenkins' Util.getTimeSpanString does ("4.9 sec",
// "12 sec", "3 min 5 sec", "2 hr 1 min"), as in a queue item's why.
func TimeSpan(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < 10*time.Second:
		return strconv.FormatFloat(float64(d.Milliseconds()/100)/10, 'f', 1, 64) + " sec"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " sec"
	case d < time.Hour:
		m := int(d / time.Minute)
		s := int((d % time.Minute) / time.Second)
		return strconv.Itoa(m) + " min " + strconv.Itoa(s) + " sec"
	default:
		h := int(d / time.Hour)
		m := int((d % time.Hour) / time.Minute)
		return strconv.Itoa(h) + " hr " + strconv.Itoa(m) + " min"
	}
}
