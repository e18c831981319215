#include "core/stop.h"

#include <signal.h>
#include <string.h>

#include "core/check.h"

static volatile sig_atomic_t g_stop_signal;
static const int k_signals[3] = {SIGUSR1, SIGTERM, SIGINT};

static void on_signal(int sig) {
    g_stop_signal = sig;
    signal(sig, SIG_DFL); /* async-signal-safe; a second signal takes the default action */
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
