#include "core/stop.h"

#include <signal.h>
#include <string.h>

#include "core/check.h"
#include "core/fsutil.h"

static volatile sig_atomic_t g_stop_signal;
static const int k_signals[3] = {SIGUSR1, SIGTERM, SIGINT};

static void on_signal(int sig) {
    g_stop_signal = sig;
    /* a second Ctrl-C ends the process at once (async-signal-safe). A second SIGTERM or SIGUSR1 does not: a
     * launcher or scheduler may deliver one signal more than once (to the process and again through its group or
     * launcher), and a task killed by the second copy would lose the checkpoint the first asked for; a scheduler
     * that means it follows with SIGKILL */
    if (sig == SIGINT) signal(sig, atomic_unlink_on_signal); /* which ends it, removing half-written files */
}

void stop_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* blocking reads and collectives continue; the flag is polled */
    CHECK_SYS(sigemptyset(&sa.sa_mask));
    for (int i = 0; i < 3; i++) CHECK_SYS(sigaction(k_signals[i], &sa, NULL));
}

int stop_requested(void) { return g_stop_signal; }
