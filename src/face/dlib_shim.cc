// The only C++ in dfer: dlib's frontal face detector and 68-point shape
// predictor behind the C interface of dlib_shim.h. Every entry point catches
// everything dlib may throw (serialization errors, bad_alloc, ...) and turns it
// into an Err message; nothing propagates into C.
extern "C" {
#include "core/check.h"
}
#include "face/dlib_shim.h"

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <cmath>
#include <exception>
#include <fstream>
#include <new>

namespace dfer_face {

// A read-only view of the caller's packed RGB bytes as a dlib generic image, so
// the detector and the predictor read the frame in place instead of a copy.
// dlib::rgb_pixel is three unsigned chars (red, green, blue): the same layout.
struct RgbView {
    const unsigned char *data;
    long width, height, stride;
};
inline long num_rows(const RgbView &v) { return v.height; }
inline long num_columns(const RgbView &v) { return v.width; }
inline const void *image_data(const RgbView &v) { return v.data; }
inline long width_step(const RgbView &v) { return v.stride; }

}  // namespace dfer_face

namespace dlib {
template <> struct image_traits<dfer_face::RgbView> {
    typedef rgb_pixel pixel_type;
};
}  // namespace dlib

static_assert(sizeof(dlib::rgb_pixel) == 3, "rgb_pixel must be packed RGB");

struct DlibModel {
    dlib::shape_predictor predictor;
    float mean_shape[2 * DLIB_FACE_POINTS];
};

struct DlibDetector {
    const DlibModel *model;
    dlib::frontal_face_detector detector;
    dlib::array2d<dlib::rgb_pixel> up, tmp;  // upsampled copies, reused between frames
};

// Formats a caught exception as "what: message" into err; returns -1.
static int fail(Err *err, const char *what) {
    try {
        throw;
    } catch (const std::bad_alloc &) {
        return err_set(err, "%s: out of memory", what);
    } catch (const std::exception &e) {
        return err_set(err, "%s: %s", what, e.what());
    } catch (...) {
        return err_set(err, "%s: unknown dlib error", what);
    }
}

static long long file_bytes(const char *path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    return f ? (long long)f.tellg() : -1;
}

extern "C" DlibModel *dlib_model_load(const char *path, Err *err) {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) {
        err_set(err, "%s: cannot open the landmark model (%s); Debian's libdlib-data installs "
                     "/usr/share/dlib/shape_predictor_68_face_landmarks.dat", path, strerror(errno));
        return nullptr;
    }
    DlibModel *m = nullptr;
    try {
        m = new DlibModel();
        dlib::deserialize(m->predictor, probe);
        if (m->predictor.num_parts() != DLIB_FACE_POINTS) {
            err_set(err, "%s: the model predicts %lu points, not the 68 of iBUG", path, m->predictor.num_parts());
            delete m;
            return nullptr;
        }
        // The mean shape is the model's first field after its version (see dlib's
        // serialize(shape_predictor)): read those two fields again, since the
        // predictor keeps them private.
        std::ifstream in(path, std::ios::binary);
        int version = 0;
        dlib::matrix<float, 0, 1> initial;
        dlib::deserialize(version, in);
        dlib::deserialize(initial, in);
        if (initial.size() != 2 * DLIB_FACE_POINTS) {
            err_set(err, "%s: the mean shape has %ld values, not 136", path, (long)initial.size());
            delete m;
            return nullptr;
        }
        for (int i = 0; i < 2 * DLIB_FACE_POINTS; i++) m->mean_shape[i] = initial(i);
        return m;
    } catch (...) {
        delete m;
        char what[4300];
        if (probe.eof()) // the file ended inside the model: a partial download or copy, most likely
            snprintf(what, sizeof what, "%s: ends early (at %lld bytes) inside the model: a truncated file? (Debian's "
                     "68-point model has 99693937 bytes)", path, (long long)file_bytes(path));
        else if (file_bytes(path) < 99693937) // cut short elsewhere than at a record's end: garbage sizes follow
            snprintf(what, sizeof what, "%s: not a dlib shape predictor, or a truncated or damaged one (%lld bytes; "
                     "Debian's 68-point model has 99693937)", path, (long long)file_bytes(path));
        else
            snprintf(what, sizeof what, "%s: not a dlib shape predictor", path);
        fail(err, what);
        return nullptr;
    }
}

extern "C" void dlib_model_free(DlibModel *m) { delete m; }

extern "C" const float *dlib_model_mean_shape(const DlibModel *m) { return m->mean_shape; }

extern "C" DlibDetector *dlib_detector_create(const DlibModel *m, Err *err) {
    try {
        DlibDetector *d = new DlibDetector();
        d->model = m;
        d->detector = dlib::get_frontal_face_detector();
        return d;
    } catch (...) {
        fail(err, "creating dlib's face detector");
        return nullptr;
    }
}

extern "C" void dlib_detector_free(DlibDetector *d) { delete d; }

extern "C" int dlib_detect(DlibDetector *d, const uint8_t *rgb, int w, int h, int stride, int upsample,
                           DlibBox *boxes, int max, Err *err) {
    if (w < 1 || h < 1 || stride < 3 * w || upsample < 0 || upsample > 3)
        return err_set(err, "dlib_detect: bad image %dx%d (stride %d) or upsample %d", w, h, stride, upsample);
    try {
        dfer_face::RgbView view{rgb, w, h, stride};
        std::vector<std::pair<double, dlib::rectangle>> dets;
        dlib::pyramid_down<2> pyr;
        if (upsample == 0) {
            d->detector(view, dets);
        } else {
            dlib::pyramid_up(view, d->up, pyr);
            for (int i = 1; i < upsample; i++) {
                dlib::pyramid_up(d->up, d->tmp, pyr);
                dlib::swap(d->up, d->tmp);
            }
            d->detector(d->up, dets);
        }
        // dlib returns detections best first already; keep that order explicitly
        std::stable_sort(dets.begin(), dets.end(),
                         [](const std::pair<double, dlib::rectangle> &a, const std::pair<double, dlib::rectangle> &b) {
                             return a.first > b.first;
                         });
        int n = (int)dets.size();
        for (int i = 0; i < n && i < max; i++) {
            dlib::drectangle r = pyr.rect_down(dlib::drectangle(dets[i].second), (unsigned)upsample);
            boxes[i] = DlibBox{(float)r.left(), (float)r.top(), (float)r.right() + 1, (float)r.bottom() + 1,
                               (float)dets[i].first};
        }
        return n;
    } catch (...) {
        return fail(err, "dlib face detection");
    }
}

extern "C" int dlib_landmarks(DlibDetector *d, const uint8_t *rgb, int w, int h, int stride, const float box[4],
                              float *xy, Err *err) {
    if (w < 1 || h < 1 || stride < 3 * w) return err_set(err, "dlib_landmarks: bad image %dx%d", w, h);
    // lround of a NaN or of a value past long's range is undefined: such a box gave points of -8e18 and no error
    for (int i = 0; i < 4; i++)
        if (!(std::fabs(box[i]) < 1e9f))
            return err_set(err, "dlib_landmarks: face box (%g %g %g %g) is not finite or beyond 1e9 px",
                           (double)box[0], (double)box[1], (double)box[2], (double)box[3]);
    try {
        dfer_face::RgbView view{rgb, w, h, stride};
        dlib::rectangle r(std::lround(box[0]), std::lround(box[1]), std::lround(box[2]) - 1, std::lround(box[3]) - 1);
        if (r.is_empty()) return err_set(err, "dlib_landmarks: empty face box");
        dlib::full_object_detection shape = d->model->predictor(view, r);
        for (int p = 0; p < DLIB_FACE_POINTS; p++) {
            xy[2 * p] = (float)shape.part(p).x() + 0.5f;
            xy[2 * p + 1] = (float)shape.part(p).y() + 0.5f;
        }
        return 0;
    } catch (...) {
        return fail(err, "dlib shape prediction");
    }
}
