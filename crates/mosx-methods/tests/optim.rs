//! The optimizers against their reference implementations, and the behaviours the trainer
//! relies on: convergence, gradient clipping, half-precision parameters, rejected
//! parameters and configs (their state, skipped parameters and exact resume: `optim_state.rs`).

mod common;

use mosx_methods::optim::{OptimConfig, OptimConfigError, OptimError, Optimizer, OptimizerKind};
use tch::{Device, Kind, Tensor};

use common::optim::{
    adafactor_full_cfg, adamw_cfg, all_configs, grad, params, set_grads, values, SHAPES,
};

// ---------------------------------------------------------------------------------------
// Reference numbers: the three parameters (shapes below) after each of 4 steps, produced
// on CPU in float64 by PyTorch 2.11.0 (`torch.optim.AdamW(..., foreach=False)`) and by
// Hugging Face transformers 5.24.0 (`transformers.optimization.Adafactor`), with:
//
//   SHAPES = [("w", [3, 4]), ("b", [4]), ("t", [2, 2, 3])]; LRS = [0.01, 0.02, 0.015, 0.01]
//   init(c, s):    p[i] = ((i*5 + c) % 13 - 6) / 8                      (c = parameter index)
//   grad(c, s, k): g[i] = ((i*7 + 3k + c) % 11 - 5) / 4 * (1 + i % 3)  (k = 1-based step)
//   each step: set every group's lr to LRS[k-1], p.grad = grad(c, s, k), opt.step()
//   ADAMW:           AdamW(ps, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
//   ADAFACTOR_PLAIN: Adafactor(ps, relative_step=False, scale_parameter=False, warmup_init=False)
//   ADAFACTOR_FULL:  Adafactor(ps, beta1=0.9, weight_decay=0.1, relative_step=False,
//                              scale_parameter=True, warmup_init=False)
//
// Update clipping (RMS(update) > 1) is active on the factored parameters at some steps and
// not at others in both Adafactor runs. Values printed with Python's repr.
// ---------------------------------------------------------------------------------------

const LRS: [f64; 4] = [0.01, 0.02, 0.015, 0.01];

#[rustfmt::skip]
const ADAMW: [[&[f64]; 3]; 4] = [
    [
        &[-0.7399250002, -0.13498749996, 0.48995000013333334, -0.48995000013333334, 0.11498750005, 0.749925, -0.2399750001, 0.36496250006666664, -0.6149375001333334, 0.00999999992, 0.6149375001, -0.36496250006666664],
        &[-0.6149375004000001, 0.00999999996, 0.6149375000666667, -0.3649625002],
        &[-0.49995, 0.13498749995, 0.7399250000444444, -0.2399750004, 0.38496249996, -0.6349374999333334, 0.009999999800000003, 0.61493750004, -0.38496249986666664, 0.25997499986666667, -0.75992499995, -0.1249875],
    ],
    [
        &[-0.7344502745415292, -0.13879046314597387, 0.47216448040265935, -0.4764508453033339, 0.1160171341236742, 0.7348922786221808, -0.22331505465443452, 0.3707607316335174, -0.6221365831122877, 0.027969503822654534, 0.5960203639878807, -0.35956276681837107],
        &[-0.6221365832554293, 0.0279695039570546, 0.596020363921656, -0.3595627670415293],
        &[-0.5147327461907782, 0.15157245300953767, 0.7456482391207916, -0.24724907575542932, 0.4028570114570546, -0.6536046610783441, 0.015324740458470727, 0.6109845518540262, -0.40257303709734066, 0.2733241696966661, -0.7587203833763257, -0.1398452388778192],
    ],
    [
        &[-0.7412000837467744, -0.1409900726070816, 0.47140956962937874, -0.47766739337222036, 0.11826992739056749, 0.7385622142971895, -0.21880328129747573, 0.3770352649910982, -0.6325235944135776, 0.0364578474726781, 0.5910790050913006, -0.3663688092188969],
        &[-0.6325235944683552, 0.03645784766079104, 0.5910790050159979, -0.36636880937289934],
        &[-0.51087536679198, 0.15602799327420913, 0.7518665393641075, -0.2576923200944802, 0.41128912203466605, -0.6583585762302523, 0.008462465000975642, 0.6086724761406684, -0.4031967372429963, 0.2719951553755297, -0.7563363794818075, -0.13604409257518543],
    ],
    [
        &[-0.740124330916616, -0.14471540136237787, 0.471991772264303, -0.4736415270939109, 0.11751592176081185, 0.7423273790758838, -0.22141683314742094, 0.37947819213523853, -0.6346863147852521, 0.03676722921774693, 0.5883702791974778, -0.3653305395074121],
        &[-0.6346863148210194, 0.0367672294076875, 0.5883702791164505, -0.36533053967017837],
        &[-0.5069852582883851, 0.15337695828126635, 0.7542719833861085, -0.25989252357458187, 0.4115610206541251, -0.6609423583716751, 0.00946325157625922, 0.6048721811304975, -0.4025270739773848, 0.27594605539896444, -0.7570029244808759, -0.13219146716580388],
    ],
];
#[rustfmt::skip]
const ADAFACTOR_PLAIN: [[&[f64]; 3]; 4] = [
    [
        &[-0.7463059579365806, -0.13949646785259093, 0.49240642075257557, -0.49459748540799436, 0.10984650714901567, 0.75, -0.2396166812339331, 0.36391905332400093, -0.6184003062197954, 0.008633022858536147, 0.6129408705830541, -0.36213064935800243],
        &[-0.615, 0.01, 0.615, -0.365],
        &[-0.5, 0.13371181443106112, 0.7383964699416805, -0.23565289520292007, 0.3862032066418502, -0.6329583418462041, 0.007116649382561224, 0.6149816701555165, -0.38782972212916184, 0.26328142336247107, -0.7599715599591393, -0.125],
    ],
    [
        &[-0.7496777124506996, -0.1220950002964867, 0.4617526078163058, -0.49459748540799436, 0.13423665272864435, 0.7263981746067593, -0.23730689539346908, 0.3934013365267328, -0.6412512649699774, 0.015184841234335009, 0.5840872388079424, -0.3731793482700664],
        &[-0.639239986866251, 0.02112026710373744, 0.590047778874224, -0.3782541845497498],
        &[-0.5302276148337576, 0.13999070473583605, 0.7625797542144859, -0.2557734679349151, 0.3987415630171294, -0.6571042196859976, -0.0035950944441790157, 0.6290628657930779, -0.4153695588981737, 0.26328142336247107, -0.7383216728680614, -0.1488177093902471],
    ],
    [
        &[-0.7579625304903405, -0.1220950002964867, 0.4855490759660822, -0.5014594956948991, 0.13782592571331506, 0.752427213269488, -0.24074338286778224, 0.4013289709138644, -0.6667216437426314, 0.013542987294902555, 0.5938417086398065, -0.3956819387917381],
        &[-0.658813370895574, 0.01632546775045145, 0.6012629949913935, -0.3974404156608241],
        &[-0.5091887351774822, 0.12864440353575368, 0.7709871237954344, -0.27587881261022096, 0.3933201408657495, -0.6450527417081362, -0.026139395010777184, 0.6290628657930779, -0.3987488169117631, 0.24690937326175022, -0.7336470752146605, -0.1287006056083836],
    ],
    [
        &[-0.7512158661429572, -0.13225203043879472, 0.4909366914338892, -0.49305922522047685, 0.13179364206124355, 0.761508751008179, -0.24877194904426742, 0.39832465283033675, -0.6552827892160451, 0.00844044754257229, 0.5938417086398065, -0.3804899221951649],
        &[-0.6497649662646823, 0.004054850893933161, 0.6012629949913935, -0.38516753448749286],
        &[-0.5031018901506453, 0.11396415144795413, 0.7676172937769766, -0.2666196973525192, 0.38141020324398717, -0.6450527417081362, -0.014024742984366293, 0.6185330331894682, -0.39541257968808335, 0.26135929549640413, -0.740345532011576, -0.12233365513110275],
    ],
];
#[rustfmt::skip]
const ADAFACTOR_FULL: [[&[f64]; 3]; 4] = [
    [
        &[-0.7494610898967382, -0.1256377191829233, 0.49939371256118087, -0.49949919607401877, 0.12421029347789705, 0.7496389306247409, -0.24937976375224963, 0.3742859999132261, -0.6243813825459348, 0.0004156160226838953, 0.6241185512106514, -0.3741999015261976],
        &[-0.624219883634982, 0.00048007160924178787, 0.624219883634982, -0.3743399015372925],
        &[-0.4997675425666206, 0.12534691084619956, 0.7491118484868314, -0.24921675305179944, 0.37534651065728214, -0.6250794233521807, 0.0003308636099462398, 0.6242436611597965, -0.3754221297803886, 0.25050124440060334, -0.7501149064969089, -0.12494188564165515],
    ],
    [
        &[-0.7487423229302326, -0.12530810682179905, 0.4971101447149104, -0.4987846732150806, 0.12460722426447693, 0.7477828287144122, -0.24857892435791312, 0.37486374559325686, -0.6245938249307154, 0.0011043624681236293, 0.6216081073450308, -0.3738137286568742],
        &[-0.6243514232286478, 0.0014448202113275875, 0.621992976807808, -0.37418434576074566],
        &[-0.5007078572218034, 0.12588673876701115, 0.7490539575137325, -0.24931990839127258, 0.37604911956732257, -0.6259535989483018, 0.00013049433265495262, 0.6238986614930923, -0.3768899343806616, 0.2508241243007795, -0.7488286930015814, -0.12593270147361785],
    ],
    [
        &[-0.7486027707580261, -0.12502998217670805, 0.4962716488313003, -0.49854424729188496, 0.1251545642179255, 0.7474723494866576, -0.24806001999217206, 0.37581835985228124, -0.626098493200739, 0.0016449799273305613, 0.6199096421158165, -0.3746011835238466],
        &[-0.6254971866319493, 0.0020829322768252676, 0.6206177065937746, -0.3750171886481467],
        &[-0.5006448981336828, 0.12586213801119225, 0.7494970379387248, -0.25038210681690326, 0.3764811652432771, -0.6262664471444477, -0.0010977886072822231, 0.6236752867867519, -0.377489450934394, 0.25038818241302674, -0.7475590686391096, -0.12590584417194275],
    ],
    [
        &[-0.7482792704949344, -0.1252883904011166, 0.4958595649069181, -0.49800862156930603, 0.1253783122093833, 0.7477546671194147, -0.24802040001098064, 0.3765958642980014, -0.627007914798643, 0.0018865470418930024, 0.6184863281043222, -0.37464315582118046],
        &[-0.6261991291014632, 0.002069633983614514, 0.6194847821716203, -0.375241366191617],
        &[-0.500386760242669, 0.1251779901823151, 0.7498608320293102, -0.2509476954731353, 0.3763772921173609, -0.6266497282064374, -0.0016394246598526998, 0.6230863361818954, -0.3779349633210222, 0.2507086508173717, -0.7468502760899646, -0.1256061704478806],
    ],
];

/// Runs the reference protocol; the parameters after each step.
fn run_reference_protocol(cfg: OptimConfig, kind: Kind) -> Vec<Vec<Vec<f64>>> {
    let ps = params(kind);
    let tensors: Vec<Tensor> = ps.iter().map(|(_, t)| t.shallow_clone()).collect();
    let mut opt = Optimizer::new(cfg, ps).expect("optimizer");
    let mut out = Vec::new();
    for (k, lr) in LRS.iter().enumerate() {
        opt.zero_grad().expect("zero_grad");
        let grads: Vec<Tensor> = SHAPES
            .iter()
            .enumerate()
            .map(|(c, s)| grad(c as i64, s, k as i64 + 1, kind))
            .collect();
        set_grads(&tensors.iter().zip(&grads).collect::<Vec<_>>());
        opt.step(*lr);
        out.push(tensors.iter().map(values).collect());
    }
    out
}

fn assert_matches(
    what: &str,
    got: &[Vec<Vec<f64>>],
    expected: &[[&[f64]; 3]; 4],
    rtol: f64,
    atol: f64,
) {
    for (k, (got_step, exp_step)) in got.iter().zip(expected).enumerate() {
        for (c, (g, e)) in got_step.iter().zip(exp_step).enumerate() {
            assert_eq!(g.len(), e.len());
            for (i, (a, b)) in g.iter().zip(e.iter()).enumerate() {
                assert!(
                    (a - b).abs() <= rtol * b.abs() + atol,
                    "{what}: step {} param {c} [{i}]: got {a}, reference {b}",
                    k + 1
                );
            }
        }
    }
}

/// f64: 1e-6 relative to the references; f32: what f32 arithmetic allows.
const F64_TOL: (f64, f64) = (1e-6, 1e-12);
const F32_TOL: (f64, f64) = (1e-5, 1e-6);

#[test]
fn adamw_matches_pytorch() {
    let (r, a) = F64_TOL;
    assert_matches(
        "adamw f64",
        &run_reference_protocol(adamw_cfg(), Kind::Double),
        &ADAMW,
        r,
        a,
    );
    let (r, a) = F32_TOL;
    assert_matches(
        "adamw f32",
        &run_reference_protocol(adamw_cfg(), Kind::Float),
        &ADAMW,
        r,
        a,
    );
}

#[test]
fn adafactor_matches_transformers() {
    let plain = OptimConfig::default();
    let full = adafactor_full_cfg();
    for (kind, (r, a)) in [(Kind::Double, F64_TOL), (Kind::Float, F32_TOL)] {
        let got = run_reference_protocol(plain.clone(), kind);
        assert_matches(
            &format!("adafactor plain {kind:?}"),
            &got,
            &ADAFACTOR_PLAIN,
            r,
            a,
        );
        let got = run_reference_protocol(full.clone(), kind);
        assert_matches(
            &format!("adafactor full {kind:?}"),
            &got,
            &ADAFACTOR_FULL,
            r,
            a,
        );
    }
}

#[test]
fn adafactor_minimises_a_quadratic() {
    let target_w = Tensor::from_slice(
        &(0..48)
            .map(|i| ((i * 7) % 13) as f64 / 6.0 - 1.0)
            .collect::<Vec<_>>(),
    )
    .reshape([8, 6]);
    let target_b = Tensor::from_slice(&[0.5f64, -1.5, 2.0, 0.0, 1.0, -0.25]);
    let w = Tensor::zeros([8, 6], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let b = Tensor::zeros([6], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let mut opt = Optimizer::new(
        OptimConfig::default(),
        vec![
            ("w".into(), w.shallow_clone()),
            ("b".into(), b.shallow_clone()),
        ],
    )
    .expect("optimizer");
    let loss = |w: &Tensor, b: &Tensor| {
        (w - &target_w).square().sum(Kind::Double) + (b - &target_b).square().sum(Kind::Double)
    };
    let initial = tch::no_grad(|| loss(&w, &b)).double_value(&[]);
    let steps = 400;
    for k in 0..steps {
        opt.zero_grad().expect("zero_grad");
        loss(&w, &b).backward();
        opt.step(0.1 * (1.0 - k as f64 / steps as f64));
    }
    let last = tch::no_grad(|| loss(&w, &b)).double_value(&[]);
    assert!(last < 1e-4 * initial, "loss {initial} -> {last}");
}

#[test]
fn clip_grad_norm_rescales_above_the_maximum_only() {
    let a = Tensor::zeros([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let b = Tensor::zeros([2, 2], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let c = Tensor::zeros([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let mut opt = Optimizer::new(
        OptimConfig::for_kind(OptimizerKind::Adamw),
        vec![
            ("a".into(), a.shallow_clone()),
            ("b".into(), b.shallow_clone()),
            ("c".into(), c.shallow_clone()),
        ],
    )
    .expect("optimizer");
    assert_eq!(opt.grad_norm(), 0.0, "no grad defined yet");

    let ga = Tensor::from_slice(&[3.0f32, 4.0, 0.0]);
    let gb = Tensor::from_slice(&[1.0f64, -2.0, 2.0, 10.0]).reshape([2, 2]);
    set_grads(&[(&a, &ga), (&b, &gb)]);
    let norm = (9.0f64 + 16.0 + 1.0 + 4.0 + 4.0 + 100.0).sqrt();

    // Below the maximum: the norm is reported and nothing changes.
    assert!((opt.clip_grad_norm(100.0) - norm).abs() < 1e-12);
    assert!(a.grad().equal(&ga) && b.grad().equal(&gb));

    // Above: rescaled to the maximum (by max / (norm + 1e-6), as PyTorch).
    let before = opt.clip_grad_norm(2.0);
    assert!((before - norm).abs() < 1e-12);
    let coef = 2.0 / (norm + 1e-6);
    assert!(a.grad().allclose(&(&ga * coef), 1e-6, 0.0, false));
    assert!(b.grad().allclose(&(&gb * coef), 1e-12, 0.0, false));
    assert!((opt.grad_norm() - 2.0).abs() < 1e-5);
    assert!(!c.grad().defined(), "an undefined grad stays undefined");
}

#[test]
fn half_precision_parameters_keep_f32_state() {
    let p = Tensor::from_slice(&[0.5f32, -0.25, 1.0, 2.0])
        .reshape([2, 2])
        .to_kind(Kind::BFloat16);
    let p = p.set_requires_grad(true);
    for cfg in all_configs() {
        let q = p.detach().copy().set_requires_grad(true);
        let mut opt =
            Optimizer::new(cfg.clone(), vec![("p".into(), q.shallow_clone())]).expect("optimizer");
        set_grads(&[(
            &q,
            &Tensor::from_slice(&[1.0f32, -1.0, 0.5, 2.0])
                .reshape([2, 2])
                .to_kind(Kind::BFloat16),
        )]);
        opt.step(0.1);
        assert_eq!(q.kind(), Kind::BFloat16);
        assert!(!q.equal(&p), "{:?}: bf16 parameter did not move", cfg.kind);
        for (n, t) in opt.state() {
            let expected = if n.ends_with(".step") {
                Kind::Int64
            } else {
                Kind::Float
            };
            assert_eq!(t.kind(), expected, "{n}");
        }
    }
}

#[test]
fn new_rejects_bad_parameters_and_config() {
    let p = || Tensor::zeros([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let dup = Optimizer::new(
        OptimConfig::default(),
        vec![("x".into(), p()), ("x".into(), p())],
    );
    assert!(matches!(dup, Err(OptimError::DuplicateParam { name }) if name == "x"));
    let frozen = Tensor::zeros([2], (Kind::Float, Device::Cpu));
    let r = Optimizer::new(OptimConfig::default(), vec![("f".into(), frozen)]);
    assert!(matches!(r, Err(OptimError::NotTrainable { name }) if name == "f"));
    let ints = Tensor::zeros([2], (Kind::Int64, Device::Cpu));
    let r = Optimizer::new(OptimConfig::default(), vec![("i".into(), ints)]);
    assert!(matches!(r, Err(OptimError::NotFloat { name, .. }) if name == "i"));
    let bad = OptimConfig {
        beta1: 1.0,
        ..OptimConfig::default()
    };
    let r = Optimizer::new(bad, vec![("x".into(), p())]);
    assert!(matches!(
        r,
        Err(OptimError::InvalidConfig(OptimConfigError {
            field: "beta1",
            ..
        }))
    ));
}

#[test]
fn config_defaults_follow_the_kind() {
    let cfg: OptimConfig = serde_json::from_str("{}").expect("parse");
    assert_eq!(cfg, OptimConfig::default());
    assert_eq!(
        (cfg.kind, cfg.beta1, cfg.scale_parameter),
        (OptimizerKind::Adafactor, 0.0, false)
    );
    assert_eq!(
        (cfg.eps1, cfg.eps2, cfg.clip_threshold, cfg.decay_rate),
        (1e-30, 1e-3, 1.0, -0.8)
    );
    let adamw: OptimConfig =
        serde_json::from_str(r#"{"kind": "adamw", "weight_decay": 0.01}"#).expect("parse");
    assert_eq!(
        (adamw.beta1, adamw.beta2, adamw.eps, adamw.weight_decay),
        (0.9, 0.999, 1e-8, 0.01)
    );
    let back: OptimConfig =
        serde_json::from_str(&serde_json::to_string(&adamw).expect("json")).expect("parse");
    // serde_json (without its `float_roundtrip` feature) may parse 1e-30 one ulp off.
    assert!((back.eps1 - adamw.eps1).abs() <= 1e-15 * adamw.eps1);
    assert_eq!(
        OptimConfig {
            eps1: adamw.eps1,
            ..back
        },
        adamw
    );
    assert!(serde_json::from_str::<OptimConfig>(r#"{"kind": "adafactor", "lr": 0.1}"#).is_err());
    assert!(serde_json::from_str::<OptimConfig>(r#"{"kind": "sgd"}"#).is_err());
    assert!(serde_json::from_str::<OptimConfig>(r#"{"clip_threshold": 0}"#).is_err());
}
