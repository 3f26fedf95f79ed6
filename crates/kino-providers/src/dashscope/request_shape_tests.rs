//! Request-shape tests: the seed script's flat request in, the exact JSON of shared/contracts.md
//! §1.3 out.

use serde_json::{Value, json};

use kino_core::JobRequest;

use super::{Mode, build, plan};

fn flat(v: Value) -> JobRequest {
    JobRequest {
        mode: None,
        model: None,
        fields: v.as_object().cloned().unwrap_or_default(),
    }
}

fn wire(req: JobRequest) -> Value {
    match plan(&req) {
        Ok(p) => build(&p, &[]).unwrap_or_else(|e| panic!("build: {e}")),
        Err(e) => panic!("plan: {e}"),
    }
}

fn refused(req: JobRequest) -> String {
    match plan(&req) {
        Ok(p) => panic!("accepted: {:?}", p.request),
        Err(e) => e.to_string(),
    }
}

#[test]
fn t2v_wan26() {
    let got = wire(flat(
        json!({"prompt":"A detective walking through a rainy city at night","size":"1280*720","duration":5,"shot_type":"multi","prompt_extend":true}),
    ));
    let want = json!({"model":"wan2.6-t2v","input":{"prompt":"A detective walking through a rainy city at night"},"parameters":{"size":"1280*720","duration":5,"shot_type":"multi","prompt_extend":true}});
    assert_eq!(got, want);
}

#[test]
fn t2v_defaults_to_the_scripts_720p_size() {
    let got = wire(flat(json!({"prompt":"a cat"})));
    assert_eq!(
        got,
        json!({"model":"wan2.6-t2v","input":{"prompt":"a cat"},"parameters":{"size":"1280*720"}})
    );
}

#[test]
fn t2v_wan27_uses_resolution_and_ratio() {
    let got = wire(flat(
        json!({"model":"wan2.7-t2v","prompt":"p","resolution":"1080P","ratio":"9:16","duration":10}),
    ));
    assert_eq!(
        got,
        json!({"model":"wan2.7-t2v","input":{"prompt":"p"},"parameters":{"resolution":"1080P","ratio":"9:16","duration":10}})
    );
}

#[test]
fn i2v_img_url_protocol() {
    let got = wire(flat(
        json!({"prompt":"A cat running on grass","img_url":"https://example.com/frame.png","resolution":"720P","duration":5}),
    ));
    let want = json!({"model":"wan2.6-i2v-flash","input":{"prompt":"A cat running on grass","img_url":"https://example.com/frame.png"},"parameters":{"resolution":"720P","duration":5}});
    assert_eq!(got, want);
}

#[test]
fn i2v_reference_image_alias_and_template_in_input() {
    let got = wire(flat(
        json!({"prompt":"p","reference_image":"https://e/a.png","template":"flying","model":"wanx2.1-i2v-turbo","resolution":"720P"}),
    ));
    assert_eq!(got["input"]["img_url"], "https://e/a.png");
    assert_eq!(got["input"]["template"], "flying");
    assert!(got["parameters"].get("template").is_none());
}

#[test]
fn i2v_wan27_media_protocol() {
    let got = wire(flat(
        json!({"model":"wan2.7-i2v","prompt":"A rapper sings","media":[{"type":"first_frame","url":"https://example.com/rap.png"},{"type":"driving_audio","url":"https://example.com/rap.mp3"}],"resolution":"720P","duration":10}),
    ));
    let want = json!({"model":"wan2.7-i2v","input":{"prompt":"A rapper sings","media":[{"type":"first_frame","url":"https://example.com/rap.png"},{"type":"driving_audio","url":"https://example.com/rap.mp3"}]},"parameters":{"resolution":"720P","duration":10}});
    assert_eq!(got, want);
}

#[test]
fn i2v_wan27_shorthands_become_media_in_order() {
    let got = wire(flat(
        json!({"model":"wan2.7-i2v","driving_audio_url":"https://e/a.mp3","first_frame_url":"https://e/f.png","last_frame_url":"https://e/l.png"}),
    ));
    assert_eq!(
        got["input"]["media"],
        json!([{"type":"first_frame","url":"https://e/f.png"},{"type":"last_frame","url":"https://e/l.png"},{"type":"driving_audio","url":"https://e/a.mp3"}])
    );
}

#[test]
fn kf2v_goes_to_image2video_with_five_seconds() {
    let req = flat(
        json!({"prompt":"A cat looks up to the sky","first_frame_url":"https://example.com/first.png","last_frame_url":"https://example.com/last.png","resolution":"720P","duration":5}),
    );
    let p = plan(&req).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        Mode::parse(&p.mode).map(Mode::endpoint_task),
        Some("image2video")
    );
    let want = json!({"model":"wan2.2-kf2v-flash","input":{"prompt":"A cat looks up to the sky","first_frame_url":"https://example.com/first.png","last_frame_url":"https://example.com/last.png"},"parameters":{"resolution":"720P","duration":5}});
    assert_eq!(wire(req), want);
}

#[test]
fn r2v() {
    let got = wire(flat(
        json!({"prompt":"character1 greets character2","reference_urls":["https://example.com/p1.png","https://example.com/p2.png"],"size":"1280*720","duration":5,"shot_type":"multi"}),
    ));
    let want = json!({"model":"wan2.6-r2v-flash","input":{"prompt":"character1 greets character2","reference_urls":["https://example.com/p1.png","https://example.com/p2.png"]},"parameters":{"size":"1280*720","duration":5,"shot_type":"multi"}});
    assert_eq!(got, want);
}

#[test]
fn vace_image_reference() {
    let got = wire(flat(
        json!({"function":"image_reference","prompt":"A girl walks through a forest","ref_images_url":["https://example.com/girl.png","https://example.com/forest.png"],"obj_or_bg":["obj","bg"],"size":"1280*720"}),
    ));
    let want = json!({"model":"wan2.1-vace-plus","input":{"function":"image_reference","prompt":"A girl walks through a forest","ref_images_url":["https://example.com/girl.png","https://example.com/forest.png"]},"parameters":{"obj_or_bg":["obj","bg"],"size":"1280*720"}});
    assert_eq!(got, want);
}

#[test]
fn vace_every_function_is_accepted() {
    let cases = [
        json!({"function":"video_repainting","prompt":"p","video_url":"https://e/v.mp4","control_condition":"depth","strength":0.5}),
        json!({"function":"video_edit","prompt":"p","video_url":"https://e/v.mp4","mask_image_url":"https://e/m.png","mask_frame_id":1,"mask_type":"tracking","expand_ratio":0.05}),
        json!({"function":"video_extension","prompt":"p","first_clip_url":"https://e/c.mp4"}),
        json!({"function":"video_outpainting","prompt":"p","video_url":"https://e/v.mp4","top_scale":1.5,"left_scale":1.2}),
    ];
    for c in cases {
        let got = wire(flat(c.clone()));
        assert_eq!(got["model"], "wan2.1-vace-plus");
        assert_eq!(got["input"]["function"], c["function"]);
    }
}

#[test]
fn videoedit_wan27() {
    let got = wire(flat(
        json!({"model":"wan2.7-videoedit","prompt":"Convert the entire scene to a claymation style","media":[{"type":"video","url":"https://example.com/in.mp4"}],"resolution":"720P","prompt_extend":true,"watermark":true}),
    ));
    let want = json!({"model":"wan2.7-videoedit","input":{"prompt":"Convert the entire scene to a claymation style","media":[{"type":"video","url":"https://example.com/in.mp4"}]},"parameters":{"resolution":"720P","prompt_extend":true,"watermark":true}});
    assert_eq!(got, want);
}

#[test]
fn happyhorse_models() {
    let t2v = wire(flat(
        json!({"model":"happyhorse-1.0-t2v","prompt":"p","resolution":"720P","ratio":"1:1","duration":3}),
    ));
    assert_eq!(
        t2v["parameters"],
        json!({"resolution":"720P","ratio":"1:1","duration":3})
    );
    let i2v = wire(flat(
        json!({"model":"happyhorse-1.0-i2v","img_url":"https://e/f.png"}),
    ));
    assert_eq!(
        i2v["input"]["media"],
        json!([{"type":"first_frame","url":"https://e/f.png"}])
    );
    let r2v = wire(flat(
        json!({"model":"happyhorse-1.0-r2v","prompt":"[Image 1] waves","reference_urls":["https://e/a.png","https://e/b.png"]}),
    ));
    assert_eq!(
        r2v["input"]["media"][1],
        json!({"type":"reference_image","url":"https://e/b.png"})
    );
    let edit = wire(flat(
        json!({"model":"happyhorse-1.0-video-edit","prompt":"p","video_url":"https://e/v.mp4","reference_urls":["https://e/a.png"],"audio_setting":"origin"}),
    ));
    assert_eq!(
        edit["input"]["media"][0],
        json!({"type":"video","url":"https://e/v.mp4"})
    );
    assert_eq!(edit["parameters"]["audio_setting"], "origin");
}

#[test]
fn verbatim_fields_pass_through() {
    let got = wire(flat(
        json!({"prompt":"p","parameters.new_knob":3,"input.extra":"x"}),
    ));
    assert_eq!(got["parameters"]["new_knob"], 3);
    assert_eq!(got["input"]["extra"], "x");
}

#[test]
fn invalid_combinations_name_the_field_and_rule() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"first_frame_url":"https://e/a.png","last_frame_url":"https://e/b.png","duration":10}),
            "`duration`",
            "fixed at 5 seconds",
        ),
        (
            json!({"prompt":"p","resolution":"720P"}),
            "`resolution`",
            "takes `size`",
        ),
        (
            json!({"model":"wan2.1-vace-plus","prompt":"p"}),
            "`function`",
            "needs a function",
        ),
        (
            json!({"prompt":"p","reference_urls":["https://e/1.png","https://e/2.png","https://e/3.png","https://e/4.png","https://e/5.png","https://e/6.png"]}),
            "`reference_urls`",
            "at most 5",
        ),
        (
            json!({"prompt":"p","size":"1280x720"}),
            "`size`",
            "separator is `*`",
        ),
        (
            json!({"prompt":"p","img_url":"https://e/a.png","size":"1280*720"}),
            "`size`",
            "takes `resolution`",
        ),
        (
            json!({"model":"wan2.7-i2v","media":[{"type":"last_frame","url":"https://e/l.png"}]}),
            "`media`",
            "accepts",
        ),
        (
            json!({"model":"wan2.7-videoedit","media":[{"type":"reference_image","url":"https://e/a.png"}]}),
            "`media`",
            "exactly one `video`",
        ),
        (
            json!({"prompt":"p","durations":5}),
            "`durations`",
            "is not a field",
        ),
        (
            json!({"function":"repainting","prompt":"p"}),
            "`function`",
            "video_repainting",
        ),
        (
            json!({"prompt":"p","shot_type":"multi","prompt_extend":false}),
            "`shot_type`",
            "prompt_extend=true",
        ),
        (
            json!({"model":"wan2.2-t2v-plus","prompt":"p","duration":10}),
            "`duration`",
            "fixed at 5",
        ),
        (
            json!({"prompt":"p","reference_urls":["https://e/1.mp4","https://e/2.mp4","https://e/3.mov","https://e/4.mp4"]}),
            "`reference_urls`",
            "3 of the references may be videos",
        ),
        (
            json!({"model":"wan2.6-t2v","mode":"i2v","prompt":"p"}),
            "`mode`",
            "is a t2v model",
        ),
        (json!({"prompt":"p","seed":-1}), "`seed`", "0 to 2147483647"),
        (
            json!({"model":"nope-1"}),
            "`model`",
            "not a Wan video model",
        ),
        (json!({"prompt":""}), "`prompt`", "must not be empty"),
    ];
    for (req, field, rule) in cases {
        let msg = refused(flat(req.clone()));
        assert!(msg.contains(field) && msg.contains(rule), "{req}: {msg}");
    }
}

#[test]
fn missing_and_wrong_kind_local_files_are_refused() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing.png");
    let msg = refused(flat(
        json!({"prompt":"p","img_url": missing.display().to_string()}),
    ));
    assert!(
        msg.contains("`img_url`") && msg.contains("cannot be read"),
        "{msg}"
    );
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "just words")?;
    let msg = refused(flat(
        json!({"prompt":"p","img_url": format!("file://{}", text.display())}),
    ));
    assert!(
        msg.contains("`img_url`") && msg.contains("must be image"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn local_files_are_listed_for_upload_and_replaced_in_the_body() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let png = dir.path().join("frame.png");
    // The smallest PNG signature `infer` recognises.
    std::fs::write(
        &png,
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13],
    )?;
    let p = plan(&flat(
        json!({"prompt":"p","img_url": png.display().to_string()}),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.local_inputs.len(), 1);
    assert_eq!(p.local_inputs[0].pointer, "/img_url");
    let body = build(
        &p,
        &[(
            "/img_url".into(),
            "oss://dashscope-instant/x/frame.png".into(),
        )],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        body["input"]["img_url"],
        "oss://dashscope-instant/x/frame.png"
    );
    assert!(super::needs_oss_resolve(&body));
    assert!(
        build(&p, &[]).is_err(),
        "an unuploaded local file must never be sent"
    );
    Ok(())
}
