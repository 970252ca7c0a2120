use super::moto::{SERIALIZED_MOTO, moto_command};
use super::*;
use std::process::Command;

#[test]
fn the_template_table_parses_despite_intrinsic_tags() {
    let dir = std::env::temp_dir().join(format!("testkit-tmpl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("template.yaml");
    std::fs::write(
        &path,
        r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          TABLE_NAME: !Ref SessionsTable
          ARN: !GetAtt SessionsTable.Arn
          NAME: !Sub "${AWS::StackName}-x"
  SessionsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: id, AttributeType: S }
      KeySchema:
        - { AttributeName: id, KeyType: HASH }
      TimeToLiveSpecification: { AttributeName: ttl, Enabled: true }
"#,
    )
    .unwrap();
    let props = table_properties(&path).unwrap();
    assert_eq!(props.key_schema[0].attribute_name, "id");
    assert!(props.time_to_live_specification.unwrap().enabled);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_real_template_defines_the_store_indexes() {
    let props = table_properties(&template_path()).unwrap();
    let names: Vec<_> = props
        .global_secondary_indexes
        .iter()
        .map(|g| g.index_name.as_str())
        .collect();
    for index in [
        shared::store::dynamo::INDEX_BY_USER_TEMPLATE,
        shared::store::dynamo::INDEX_BY_USER,
        shared::store::dynamo::INDEX_OPEN_SESSIONS,
    ] {
        assert!(names.contains(&index), "{index} missing from {names:?}");
    }
}

#[test]
fn moto_runs_under_its_own_interpreter_with_serialized_requests() {
    let dir = std::env::temp_dir().join(format!("testkit-shebang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let direct = dir.join("direct");
    std::fs::write(&direct, "#!/opt/venv/bin/python3\nimport x\n").unwrap();
    let cmd = moto_command(&direct).unwrap();
    assert_eq!(cmd.get_program(), "/opt/venv/bin/python3");
    let args: Vec<_> = cmd.get_args().collect();
    assert_eq!(args, ["-c", SERIALIZED_MOTO]);

    let via_env = dir.join("via_env");
    std::fs::write(&via_env, "#!/usr/bin/env python3 -u\n").unwrap();
    let cmd = moto_command(&via_env).unwrap();
    assert_eq!(cmd.get_program(), "python3");
    assert_eq!(cmd.get_args().next().unwrap(), "-u");

    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `moto_server` the script cannot run under would be plain, threaded moto: refused, never
/// run as is.
#[test]
fn a_moto_server_without_a_python_shebang_is_refused_not_run_threaded() {
    let dir = std::env::temp_dir().join(format!("testkit-noshebang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("binary");
    std::fs::write(&binary, [0x7f, b'E', b'L', b'F']).unwrap();
    match moto_command(&binary) {
        Err(LocalStackError::MotoStart(why)) => assert!(why.contains("threaded moto"), "{why}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(cmd) => panic!("would run {:?} unserialized", cmd.get_program()),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The script against a moto whose internals have moved (a stand-in package on PYTHONPATH with
/// a `moto.server.main` but no `DomainDispatcherApplication`): it must exit non-zero saying why,
/// not start the threaded server.
#[test]
fn the_serializing_script_refuses_a_moto_it_cannot_serialize() {
    let dir = std::env::temp_dir().join(format!("testkit-movedmoto-{}", std::process::id()));
    let pkg = dir.join("moto");
    std::fs::create_dir_all(pkg.join("moto_server")).unwrap();
    std::fs::write(pkg.join("__init__.py"), "").unwrap();
    std::fs::write(pkg.join("moto_server").join("__init__.py"), "").unwrap();
    std::fs::write(
        pkg.join("moto_server").join("werkzeug_app.py"),
        "moved = True\n",
    )
    .unwrap();
    std::fs::write(
        pkg.join("server.py"),
        "def main():\n    print('threaded moto ran')\n",
    )
    .unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(SERIALIZED_MOTO)
        .env("PYTHONPATH", &dir)
        .output()
        .expect("python3 runs");
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stdout {stdout:?} stderr {stderr:?}"
    );
    assert!(!stdout.contains("threaded moto ran"), "{stdout}");
    assert!(
        stderr.contains("cannot serialize moto's requests"),
        "{stderr}"
    );
}

#[test]
fn a_missing_resource_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("testkit-tmpl-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("template.yaml");
    std::fs::write(&path, "Resources:\n  Other: !Ref X\n").unwrap();
    assert!(matches!(
        table_properties(&path),
        Err(LocalStackError::Template { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
