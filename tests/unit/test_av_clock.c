/* AvClock (data/av_frames.h) on hand-made frames of a 25 fps stream with a 90 kHz time base, as an MPEG-TS
 * gives them: times count from the first frame; av_clock_start_offset is the first frame's time on a player's
 * clock (the container's start time, else the stream's, is its 0); a first frame without a timestamp still
 * starts the clock at 0, and the frames after it follow on (they jumped to their container-clock times: 1.52 s
 * for the second frame of a TS that starts at 1.4 s). */
#include <libavformat/avformat.h>

#include "data/av_frames.h"
#include "testlib.h"

#define TB 90000 /* ticks per second */
#define FRAME_TICKS 3600 /* 25 fps */

/* A container with one video stream; start_s < 0: the container gives no start time. */
static AVFormatContext *container(double start_s, double stream_start_s, AVStream **st) {
    AVFormatContext *fmt = avformat_alloc_context();
    EXPECT(fmt != NULL, "avformat_alloc_context failed");
    if (!fmt) return NULL;
    *st = avformat_new_stream(fmt, NULL);
    EXPECT(*st != NULL, "avformat_new_stream failed");
    if (!*st) {
        avformat_free_context(fmt);
        return NULL;
    }
    (*st)->time_base = (AVRational){1, TB};
    (*st)->avg_frame_rate = (*st)->r_frame_rate = (AVRational){25, 1};
    fmt->start_time = start_s >= 0 ? (int64_t)llround(start_s * AV_TIME_BASE) : AV_NOPTS_VALUE;
    (*st)->start_time = stream_start_s >= 0 ? (int64_t)llround(stream_start_s * TB) : AV_NOPTS_VALUE;
    return fmt;
}

/* Ticks frames with the given timestamps (AV_NOPTS_VALUE: none) into times[n]; returns the start offset. */
static double tick_all(AvClock *c, const int64_t *pts, int n, double *times) {
    AVFrame *frame = av_frame_alloc();
    EXPECT(frame != NULL, "av_frame_alloc failed");
    if (!frame) return NAN;
    for (int i = 0; i < n; i++) {
        frame->pts = frame->best_effort_timestamp = pts[i];
        times[i] = av_clock_tick(c, frame, NULL);
    }
    av_frame_free(&frame);
    return av_clock_start_offset(c);
}

/* An MPEG-TS: the clock starts at 1.4 s, the video at 1.48 s (two frames of B-frame delay). */
static void test_ts_offset(void) {
    AVStream *st;
    AVFormatContext *fmt = container(1.4, 1.48, &st);
    if (!fmt) return;
    AvClock c;
    av_clock_init(&c, fmt, st);
    int64_t pts[4];
    double t[4];
    for (int i = 0; i < 4; i++) pts[i] = (int64_t)llround(1.48 * TB) + i * FRAME_TICKS;
    double offset = tick_all(&c, pts, 4, t);
    for (int i = 0; i < 4; i++) EXPECT_NEAR(t[i], 0.04 * i, 1e-9);
    EXPECT_NEAR(offset, 0.08, 1e-9);
    avformat_free_context(fmt);
}

/* The first frame has no timestamp: it is 0, the next ones follow it by a frame (not their container times),
 * and the offset is the first frame's time as the second implies it (1.52 - 0.04) on the player's clock. */
static void test_first_frame_without_timestamp(void) {
    AVStream *st;
    AVFormatContext *fmt = container(1.4, 1.4, &st);
    if (!fmt) return;
    AvClock c;
    av_clock_init(&c, fmt, st);
    int64_t pts[3] = {AV_NOPTS_VALUE, (int64_t)llround(1.52 * TB), (int64_t)llround(1.52 * TB) + FRAME_TICKS};
    double t[3];
    double offset = tick_all(&c, pts, 3, t);
    EXPECT_NEAR(t[0], 0.0, 1e-9);
    EXPECT_NEAR(t[1], 0.04, 1e-9);
    EXPECT_NEAR(t[2], 0.08, 1e-9);
    EXPECT_NEAR(offset, 0.08, 1e-9);
    avformat_free_context(fmt);
}

/* No container start time: the stream's is the player's 0; neither: offset 0; no timestamps at all: offset 0. */
static void test_start_fallbacks(void) {
    AVStream *st;
    AVFormatContext *fmt = container(-1, 1.0, &st);
    if (!fmt) return;
    AvClock c;
    av_clock_init(&c, fmt, st);
    int64_t pts[2] = {(int64_t)llround(1.5 * TB), (int64_t)llround(1.5 * TB) + FRAME_TICKS};
    double t[2];
    EXPECT_NEAR(tick_all(&c, pts, 2, t), 0.5, 1e-9);
    st->start_time = AV_NOPTS_VALUE;
    av_clock_init(&c, fmt, st);
    EXPECT_NEAR(tick_all(&c, pts, 2, t), 0.0, 0);
    fmt->start_time = 0;
    av_clock_init(&c, fmt, st);
    int64_t none[2] = {AV_NOPTS_VALUE, AV_NOPTS_VALUE};
    EXPECT_NEAR(tick_all(&c, none, 2, t), 0.0, 0);
    EXPECT_NEAR(t[1], 0.04, 1e-9);
    avformat_free_context(fmt);
}

int main(void) {
    TEST_RUN(test_ts_offset);
    TEST_RUN(test_first_frame_without_timestamp);
    TEST_RUN(test_start_fallbacks);
    return test_summary();
}
