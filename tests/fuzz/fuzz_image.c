/* Fuzz target: image_decode_memory (FFmpeg's demuxers and decoders behind an
 * in-memory AVIOContext) on arbitrary bytes: it must decode or fail cleanly. */
#include <stddef.h>
#include <stdint.h>

#include "data/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ImageU8 img;
    Err err;
    if (image_decode_memory(data, size, &img, &err) == 0) {
        /* every pixel of the reported size must be readable */
        volatile uint8_t sink = 0;
        size_t bytes = (size_t)img.width * img.height * 3;
        for (size_t i = 0; i < bytes; i += 97) sink ^= img.rgb[i];
        sink ^= img.rgb[bytes - 1];
        (void)sink;
        image_free(&img);
    }
    return 0;
}
