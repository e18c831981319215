/* FineCLIPER's middle-level images from 68 iBUG landmarks (jaw 0-16, brows
 * 17-26, nose 27-35, eyes 36-47, mouth 48-67): a face parsing map in the
 * 11-class LaPa layout, its colour rendering with FaceXFormer's palette, and
 * the landmark image FaceXFormer's inference.py draws (clip.md §9.3).
 *
 * Coordinates are pixels with edges at integers (the first pixel's centre at
 * 0.5), the convention of face tracks and augment_apply_points.
 *
 * LaPa classes: 0 background, 1 skin, 2 left brow, 3 right brow, 4 left eye,
 * 5 right eye, 6 nose, 7 upper lip, 8 inner mouth, 9 lower lip, 10 hair.
 * "Left" is the subject's left, i.e. image right in a frontal face: iBUG
 * points 22-26 (brow) and 42-47 (eye). */
#ifndef DFER_FACE_RENDER_H
#define DFER_FACE_RENDER_H

#include <stddef.h>
#include <stdint.h>

#define FACE_CLASSES 11

enum {
    FACE_BACKGROUND = 0, FACE_SKIN, FACE_LEFT_BROW, FACE_RIGHT_BROW, FACE_LEFT_EYE, FACE_RIGHT_EYE, FACE_NOSE,
    FACE_UPPER_LIP, FACE_INNER_MOUTH, FACE_LOWER_LIP, FACE_HAIR
};

/* Renders the parsing map of one face: labels [h, w], one LaPa index per pixel
 * (a pixel takes a region's class when its centre lies inside the region;
 * no antialiasing). xy68: [68, 2]. Regions, later ones painted over earlier:
 *   hair   a band around the top of the head: the half-ellipse over the
 *          chord through points 0 and 16 with semi-axes 1.15 a (along the
 *          chord) and the forehead's height + 0.35 a, where the skin does not
 *          cover it (a = the half face width |p16 - p0| / 2). Real hair is not
 *          in the landmarks: this is a prior, as LaPa maps have hair there.
 *   skin   the jaw contour 0..16 closed by the forehead, a half-ellipse from
 *          point 16 back to point 0 (semi-axes a and the forehead's height)
 *          whose height above the chord is the brows' plus 0.35 of the
 *          brow-to-chin distance (the upper third of a face: hairline to
 *          brow ~ brow to nose base ~ nose base to chin), at least 0.5 a
 *   brows  the polylines 17-21 and 22-26 stroked 0.1 x the half face width
 *          (round caps): the points taken as the brow's centre line
 *   eyes   the polygons 36-41 and 42-47
 *   nose   point 27 widened by 0.05 a to each side, down to the nostril
 *          base 31-35 with 31 and 35 pushed out by 0.04 a (the alae reach
 *          past them)
 *   lips   upper: outer 48-54 over inner 64..60; lower: outer 54-59, 48 under
 *          inner 60, 67..64; inner mouth: 60-67
 * "Up" is perpendicular to the chord 0-16, away from the chin (point 8), so
 * roll follows the jaw. */
void face_render_parsing(const float *xy68, int w, int h, uint8_t *labels);

/* FaceXFormer's colours: rgb [n, 3] from labels [n]; an index above 10 is
 * painted black, as background. */
void face_palette_rgb(const uint8_t *labels, int n, uint8_t *rgb);
extern const uint8_t k_face_palette[FACE_CLASSES][3];

/* The landmark image: rgb [h, w, 3], black, with each point drawn as
 * OpenCV's circle(radius 0, thickness 3) rasterises: the 13 pixels
 * |dx| + |dy| <= 2 around the pixel (int)x, (int)y (truncated toward zero, as
 * numpy's astype(int32)), in (255, 255, 0), clipped at the border. Points
 * further than 1e6 px away are skipped. */
void face_render_landmark_dots(const float *xy68, int w, int h, uint8_t *rgb);
/* The same pixels as a mask [h, w]: 1 on a dot, 0 elsewhere (an index map for
 * the palette {black, k_face_dot_rgb}, written straight into model inputs). */
void face_render_landmark_mask(const float *xy68, int w, int h, uint8_t *mask);
extern const uint8_t k_face_dot_rgb[3];

/* An index map's colours as model inputs store them (parsing maps: the
 * palette; landmark masks: {black, k_face_dot_rgb}): per channel and index
 * value, the byte, and the F32 value (byte / 255 - mean) / std, the expression
 * of image_to_chw_float, so a coloured map equals the RGB image converted.
 * Index values without a colour are black. */
typedef struct FaceMapLut {
    float f[3][256];
    uint8_t u[3][256];
} FaceMapLut;
typedef enum { FACE_MAP_PARSING = 0, FACE_MAP_DOTS = 1 } FaceMapKind;
void face_map_lut_init(FaceMapLut *lut, FaceMapKind kind, const float mean[3], const float std[3]);
/* idx [n] through the LUT into F32 planes chw [3, n]. */
void face_map_to_chw(const FaceMapLut *lut, const uint8_t *idx, size_t n, float *chw);

/* iBUG-68's left-right mirror: point i of a face is point k_face_mirror[i] of
 * its mirror image (0 <-> 16, 17 <-> 26, 36 <-> 45, 48 <-> 54, ...; the
 * midline points 27-30, 33, 51, 57, 62, 66 map to themselves). */
extern const int k_face_mirror[68];
/* After a horizontal flip of coordinates: re-indexes xy [68, 2] in place so
 * that every index keeps its anatomical meaning in the mirrored image. */
void face_points_mirror_order(float *xy68);
/* Swaps the left/right classes (brows 2 <-> 3, eyes 4 <-> 5) of a mirrored label map. */
void face_labels_mirror(uint8_t *labels, int n);

#endif
