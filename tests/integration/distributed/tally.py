"""The distributed tests' tally: every check counted, a failure printed the
moment it happens, and one line and an exit status at the end."""


class Tally:
    def __init__(self):
        self.passes = 0
        self.failures = []

    def check(self, ok, what):
        if ok:
            self.passes += 1
        else:
            self.failures.append(what)
            print("FAIL: " + what, flush=True)

    def result(self):
        print("%d passed, %d failed" % (self.passes, len(self.failures)))
        return 1 if self.failures else 0
