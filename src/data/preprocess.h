/* Image to model input. CLIP's preprocessing (clip.py _transform): bicubic
 * resize of the short side to n (torchvision's size rule), centre crop
 * (torchvision's rounding), x/255, then (x - mean)/std per channel. */
#ifndef DFER_DATA_PREPROCESS_H
#define DFER_DATA_PREPROCESS_H

#include "data/image.h"

extern const float k_clip_mean[3];
extern const float k_clip_std[3];

/* out_chw: [3, n, n] floats. */
int clip_preprocess(const ImageU8 *img, int n, float *out_chw, Err *err);
/* HWC uint8 -> CHW float: (x/255 - mean[c]) / std[c] (mean 0, std 1: raw [0,1]). */
void image_to_chw_float(const ImageU8 *img, const float mean[3], const float std[3], float *out);
/* HWC RGB24 -> CHW bytes [3,H,W], the same pixels unconverted. */
void image_to_chw_u8(const ImageU8 *img, uint8_t *out);

#endif
